# First version; the operations issue hardens it (multi-stage, healthcheck, size).
FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data HOST=0.0.0.0
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY pnotify ./pnotify
COPY sql ./sql
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && useradd --system --uid 10001 --home /data pnotify \
    && mkdir -p /data && chown pnotify /data
USER pnotify
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["python", "-m", "pnotify"]
