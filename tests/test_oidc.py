"""Sign-in through a real OIDC flow: our server and a test provider, both on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER_PATH,
    Behaviour,
    LoopbackProvider,
    ThreadedServer,
    free_port,
    server_settings,
)
from tests.serverproc import ServerProcess
from tests.sseclient import async_client, open_stream


@pytest.fixture(scope="module")
def provider() -> Iterator[LoopbackProvider]:
    app = LoopbackProvider()
    server = ThreadedServer(app)
    app.url = server.url
    server.start()
    yield app
    server.stop()


@pytest.fixture(autouse=True)
def fresh_behaviour(provider: LoopbackProvider) -> None:
    provider.behaviour = Behaviour()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, provider: LoopbackProvider
) -> Iterator[ServerProcess]:
    port = free_port()
    running = ServerProcess.start(
        tmp_path_factory.mktemp("oidc") / "data",
        server_settings(provider, port),
        args=["--port", str(port)],
    )
    yield running
    running.stop()


@pytest.fixture
def browser(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def start_login(browser: httpx.Client, next_path: str | None = None) -> str:
    """Our /auth/login, then the provider's authorize: returns the callback URL."""
    params = {"next": next_path} if next_path is not None else {}
    to_provider = browser.get("/auth/login", params=params)
    assert to_provider.status_code == 302, to_provider.text
    back = httpx.get(to_provider.headers["location"])
    assert back.status_code == 302
    return back.headers["location"]


def sign_in(browser: httpx.Client, next_path: str | None = None) -> httpx.Response:
    return browser.get(start_login(browser, next_path))


def test_full_login(browser: httpx.Client, provider: LoopbackProvider) -> None:
    to_provider = browser.get("/auth/login", params={"next": "/tokens"})
    authorize = urlsplit(to_provider.headers["location"])
    assert authorize.path == "/application/o/authorize/"  # outside the issuer's path
    params = parse_qs(authorize.query)
    assert params["code_challenge_method"] == ["S256"]
    assert params["client_id"] == [CLIENT_ID]
    assert {"state", "nonce", "code_challenge"} <= set(params)
    login_cookie = to_provider.headers["set-cookie"]
    assert "HttpOnly" in login_cookie and "SameSite=Lax" in login_cookie

    callback = httpx.get(to_provider.headers["location"]).headers["location"]
    done = browser.get(callback)
    assert done.status_code == 303
    assert done.headers["location"] == "/tokens"
    session_cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("pn_session=")
    )
    assert (
        "HttpOnly" in session_cookie
        and "SameSite=Lax" in session_cookie
        and "Path=/" in session_cookie
    )
    assert provider.token_requests[-1]["authorization"].startswith("Basic ")

    me = browser.get("/api/me").json()
    assert (me["email"], me["name"], me["auth"]) == (
        "alice@example.test",
        "Alice Example",
        "session",
    )
    assert me["last_login_at"] is not None
    page = browser.get("/")
    assert page.status_code == 200 and "Alice Example" in page.text


def test_issuer_must_match_exactly(provider: LoopbackProvider) -> None:
    assert provider.issuer.endswith(ISSUER_PATH) and provider.issuer.endswith("/")


def test_hs256_when_the_provider_has_no_signing_key(
    browser: httpx.Client, provider: LoopbackProvider
) -> None:
    provider.behaviour.algorithm = "HS256"
    provider.behaviour.publish_keys = False
    provider.behaviour.subject = "hs-user"
    done = sign_in(browser)
    assert done.status_code == 303, done.text
    assert browser.get("/api/me").json()["sub"] == "hs-user"


def test_hs256_is_refused_while_keys_are_published(
    browser: httpx.Client, provider: LoopbackProvider
) -> None:
    provider.behaviour.subject = "rs-again"
    assert sign_in(browser).status_code == 303  # reloads the (non-empty) key set
    provider.behaviour.algorithm = "HS256"
    refused = sign_in(browser)
    assert refused.status_code == 400
    assert "HS256" in refused.text


def test_key_rotation_without_restart(browser: httpx.Client, provider: LoopbackProvider) -> None:
    assert sign_in(browser).status_code == 303
    fetches = provider.jwks_fetches
    provider.rotate_key()
    provider.behaviour.subject = "after-rotation"
    done = sign_in(browser)
    assert done.status_code == 303, done.text
    assert provider.jwks_fetches == fetches + 1
    assert browser.get("/api/me").json()["sub"] == "after-rotation"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("aud", "issued for another client (aud)"),
        ("iss", "comes from another issuer (iss)"),
        ("expired", "has expired"),
        ("nonce", "nonce does not match"),
        ("alg_none", "algorithm &#x27;none&#x27; is not accepted"),
        ("signature", "signature is not valid"),
        ("azp", "issued to another party (azp)"),
        ("missing_sub", "not valid"),
    ],
)
def test_bad_id_tokens_are_refused(
    browser: httpx.Client, provider: LoopbackProvider, tamper: str, message: str
) -> None:
    provider.behaviour.tamper = tamper
    response = sign_in(browser)
    assert response.status_code == 400
    assert message in response.text
    assert "pn_session=" not in " ".join(response.headers.get_list("set-cookie"))
    assert browser.get("/api/me").status_code == 401


def test_wrong_state_is_refused(browser: httpx.Client) -> None:
    callback = start_login(browser)
    forged = callback.replace("state=", "state=x")
    response = browser.get(forged)
    assert response.status_code == 400 and "state does not match" in response.text
    assert browser.get("/api/me").status_code == 401


def test_callback_without_login_cookie_is_refused(
    server: ServerProcess, browser: httpx.Client
) -> None:
    callback = start_login(browser)
    response = httpx.get(callback)  # another browser: no login cookie
    assert response.status_code == 400 and "another browser" in response.text


def test_replayed_state_is_refused(server: ServerProcess, browser: httpx.Client) -> None:
    callback = start_login(browser)
    login_cookie = browser.cookies["pn_login"]
    assert browser.get(callback).status_code == 303
    with httpx.Client(base_url=server.url, cookies={"pn_login": login_cookie}) as attacker:
        replay = attacker.get(callback)
    assert replay.status_code == 400 and "already completed" in replay.text


def test_replayed_code_is_refused(server: ServerProcess, browser: httpx.Client) -> None:
    first = start_login(browser)
    assert browser.get(first).status_code == 303
    second = start_login(browser)
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    state = parse_qs(urlsplit(second).query)["state"][0]
    response = browser.get("/auth/callback", params={"code": old_code, "state": state})
    assert response.status_code == 400
    assert "already used" in response.text


def test_provider_error_is_a_readable_page(
    browser: httpx.Client, provider: LoopbackProvider
) -> None:
    provider.behaviour.error = "access_denied"
    response = sign_in(browser)
    assert response.status_code == 400
    assert "The user said no &lt;b&gt;thanks&lt;/b&gt;" in response.text  # escaped
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aX",
    ],
)
def test_next_never_leaves_the_site(browser: httpx.Client, next_path: str) -> None:
    done = sign_in(browser, next_path)
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert "evil" not in urlsplit(location).netloc


def test_tampered_session_cookie_is_refused(server: ServerProcess, browser: httpx.Client) -> None:
    assert sign_in(browser).status_code == 303
    value = browser.cookies["pn_session"]
    encoded, expires, signature = value.split(".")
    for forged in (
        f"{encoded}.{int(expires) + 10**6}.{signature}",  # longer life
        f"{encoded[:-2]}AA.{expires}.{signature}",  # another session id
        f"{encoded}.{expires}.{signature[:-2]}AA",
        "garbage",
    ):
        with httpx.Client(base_url=server.url, cookies={"pn_session": forged}) as other:
            assert other.get("/api/me").status_code == 401


def test_logout_ends_the_session_everywhere(
    server: ServerProcess, browser: httpx.Client, provider: LoopbackProvider
) -> None:
    assert sign_in(browser).status_code == 303
    copied = browser.cookies["pn_session"]
    confirm = browser.get("/auth/logout")  # a page with a button: GET signs nobody out
    assert confirm.status_code == 200
    assert '<form method="post" action="/auth/logout">' in confirm.text
    assert browser.get("/api/me").status_code == 200
    out = browser.post("/auth/logout", headers={"origin": server.url})
    assert out.status_code == 303
    end_session = urlsplit(out.headers["location"])
    assert out.headers["location"].startswith(provider.issuer + "end-session/")
    params = parse_qs(end_session.query)
    assert params["post_logout_redirect_uri"] == [server.url + "/"]
    assert params["id_token_hint"][0].count(".") == 2
    with httpx.Client(base_url=server.url, cookies={"pn_session": copied}) as thief:
        assert thief.get("/api/me").status_code == 401
        assert thief.get("/").status_code == 303


def test_pages_redirect_to_login_and_api_answers_401(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/auth/login?next=/"
        api = anonymous.get("/api/tokens/")
        assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"


def test_csrf_for_cookie_writes(server: ServerProcess, browser: httpx.Client) -> None:
    assert sign_in(browser).status_code == 303
    created = browser.post(
        "/api/tokens/", json={"name": "phone"}, headers={"sec-fetch-site": "same-origin"}
    )
    assert created.status_code == 201
    token_url = f"/api/tokens/{created.json()['id']}"
    for headers in (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site", "origin": server.url},
        {"sec-fetch-site": "same-site"},
        {},  # no Origin and no Sec-Fetch-Site: not provably same-origin
    ):
        refused = browser.delete(token_url, headers=headers)
        assert refused.status_code == 403, headers
        assert "cross-origin" in refused.json()["detail"]
    assert browser.delete(token_url, headers={"origin": server.url}).status_code == 204
    # A bearer token is not a cookie: no CSRF check for it.
    account = server.account("csrf-bearer")
    posted = httpx.post(
        server.url + "/api/notifications/",
        json={"title": "from a script"},
        headers={**account.headers, "origin": "https://elsewhere.example"},
    )
    assert posted.status_code == 201


def test_session_routes_refuse_tokens(server: ServerProcess) -> None:
    account = server.account("not-a-session")
    response = httpx.get(server.url + "/api/tokens/", headers=account.headers)
    assert response.status_code == 403


@pytest.mark.anyio
async def test_logout_closes_that_sessions_streams(
    server: ServerProcess, browser: httpx.Client
) -> None:
    assert sign_in(browser).status_code == 303
    cookie = browser.cookies["pn_session"]
    async with async_client(server.url) as http:
        http.cookies.set("pn_session", cookie)
        async with open_stream(http, {}) as stream:
            other_site = browser.post("/auth/logout", headers={"origin": "https://evil.example"})
            assert other_site.status_code == 403
            assert other_site.json()["code"] == "cross_origin"
            logout = browser.post("/auth/logout", headers={"sec-fetch-site": "same-origin"})
            assert logout.status_code == 303
            await stream.until_end(timeout=3)


def test_provider_down_gives_a_clear_page(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    running = ServerProcess.start(
        tmp_path / "data",
        {
            "AUTHENTIK_ISSUER_URL": dead + ISSUER_PATH,
            "AUTHENTIK_CLIENT_ID": CLIENT_ID,
            "AUTHENTIK_CLIENT_SECRET": CLIENT_SECRET,
            "AUTHENTIK_REDIRECT_URI": "http://127.0.0.1:1/auth/callback",
        },
    )
    try:
        # Said at start, in the log and in /healthz, before anyone tries to sign in.
        warning = next(
            e for e in running.log_entries() if e.get("event") == "identity provider unreachable"
        )
        assert warning["url"] == dead + ISSUER_PATH
        assert "did not answer" in warning["reason"]
        health = httpx.get(running.url + "/healthz").json()
        assert health["status"] == "ok"  # the server serves; sign-in waits for the provider
        assert health["identity_provider"].startswith("unreachable: ")
        # Refused at once here; a provider that hangs is cut off by the 5 s client time-out.
        response = httpx.get(running.url + "/auth/login", timeout=10)
        assert response.status_code == 502
        assert "did not answer" in response.text
    finally:
        running.stop()


def test_a_reachable_provider_is_ok_in_healthz(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/healthz").json() == {
        "status": "ok",
        "identity_provider": "ok",
    }


def test_client_secret_post_when_discovery_asks_for_it(tmp_path: Path) -> None:
    provider = LoopbackProvider(behaviour=Behaviour(auth_methods=("client_secret_post",)))
    threaded = ThreadedServer(provider)
    provider.url = threaded.url
    threaded.start()
    port = free_port()
    running = ServerProcess.start(
        tmp_path / "data",
        server_settings(provider, port),
        args=["--port", str(port)],
    )
    try:
        with httpx.Client(base_url=running.url) as client:
            assert sign_in(client).status_code == 303
        request = provider.token_requests[-1]
        assert request["authorization"] == ""
        assert (request["client_id"], request["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    finally:
        running.stop()
        threaded.stop()
