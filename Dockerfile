# priority-notify container: `docker build -t priority-notify .`
# Two stages: the wheel is built and installed into a virtualenv in the first, and only that
# virtualenv reaches the final image (no source, no compiler, no pip cache).

FROM python:3.13-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# binutils for `strip`: the wheels' shared objects carry symbols (uvloop's alone is ~13 MB).
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY pnotify ./pnotify
COPY sql ./sql
COPY templates ./templates
COPY static ./static
# Build the wheel (it carries sql/, templates/ and static/ as package data), install it with
# its pinned dependencies, and keep only the virtualenv: no source reaches the final image.
RUN python -m venv /venv \
    && /venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /venv/bin/pip install -c constraints.txt /wheels/*.whl \
    && /venv/bin/pip uninstall -y pip setuptools \
    && find /venv -name '*.so' -exec strip --strip-unneeded {} + \
    && find /venv -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.13-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=8000
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pnotify \
    && mkdir /data && chown pnotify:pnotify /data
COPY --from=build /venv /venv
WORKDIR /data
USER pnotify
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
# SIGTERM (docker stop) ends every stream, commits what is in flight and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pnotify"]
