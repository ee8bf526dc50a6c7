"""A small OpenID provider for tests, shaped like Authentik: the issuer has a path with a
trailing slash and the authorize/token endpoints live outside it. Keys come from
`cryptography`; it can rotate keys, sign HS256, and misbehave on request (wrong `aud`, bad
nonce, `alg: none`, …) so that each refusal can be tested. It runs on loopback in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER_PATH = "/application/o/pnotify/"
CLIENT_ID = "pnotify-test-client"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"


@dataclass
class Behaviour:
    algorithm: str = "RS256"  # or "HS256"
    publish_keys: bool = True
    auth_methods: tuple[str, ...] = ("client_secret_basic",)
    tamper: str | None = None  # aud, iss, expired, nonce, alg_none, signature, azp, missing_sub
    error: str | None = None  # answer the authorize request with ?error=
    subject: str = "user-1"
    email: str = "alice@example.test"
    name: str = "Alice Example"


@dataclass
class Grant:
    nonce: str
    challenge: str
    redirect_uri: str
    used: bool = False


@dataclass
class LoopbackProvider:
    behaviour: Behaviour = field(default_factory=Behaviour)
    url: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = "key-1"
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    jwks_fetches: int = 0

    @property
    def issuer(self) -> str:
        return self.url + ISSUER_PATH

    def rotate_key(self) -> None:
        self.key = rsa.generate_private_key(65537, 2048)
        self.kid = f"key-{secrets.token_hex(4)}"

    # --- the provider's endpoints ------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url + "/application/o/authorize/",
            "token_endpoint": self.url + "/application/o/token/",
            "jwks_uri": self.issuer + "jwks/",
            "end_session_endpoint": self.issuer + "end-session/",
            "token_endpoint_auth_methods_supported": list(self.behaviour.auth_methods),
            "id_token_signing_alg_values_supported": [self.behaviour.algorithm],
        }

    def jwks(self) -> dict[str, Any]:
        self.jwks_fetches += 1
        if not self.behaviour.publish_keys:
            return {"keys": []}
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [public | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        redirect = query["redirect_uri"]
        if self.behaviour.error:
            params = {
                "error": self.behaviour.error,
                "error_description": "The user said no <b>thanks</b>",
            }
            return 302, {"location": redirect + "?" + urlencode(params | {"state": query["state"]})}
        assert query["code_challenge_method"] == "S256"
        assert query["client_id"] == CLIENT_ID and "openid" in query["scope"].split()
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(query["nonce"], query["code_challenge"], redirect)
        return 302, {
            "location": redirect + "?" + urlencode({"code": code, "state": query["state"]})
        }

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form | {"authorization": authorization or ""})
        if authorization:
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = decoded.partition(":")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return 401, {"error": "invalid_client"}
        grant = self.grants.get(form.get("code", ""))
        if grant is None or grant.used:
            return 400, {
                "error": "invalid_grant",
                "error_description": "code unknown or already used",
            }
        grant.used = True
        verifier_hash = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(verifier_hash).rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        return 200, {
            "access_token": "opaque",
            "token_type": "Bearer",
            "id_token": self.id_token(grant.nonce),
        }

    def id_token(self, nonce: str) -> str:
        behaviour = self.behaviour
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": behaviour.subject,
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "email": behaviour.email,
            "name": behaviour.name,
            "azp": CLIENT_ID,
        }
        tamper = behaviour.tamper
        if tamper == "aud":
            claims["aud"] = "someone-else"
        elif tamper == "iss":
            claims["iss"] = self.url + "/application/o/other/"
        elif tamper == "expired":
            claims |= {"exp": now - 3600, "iat": now - 7200}
        elif tamper == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif tamper == "azp":
            claims["azp"] = "another-client"
        elif tamper == "missing_sub":
            del claims["sub"]
        if tamper == "alg_none":
            header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
            return (header + b"." + body + b".").decode()
        if behaviour.algorithm == "HS256":
            token = jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")
        else:
            token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        if tamper == "signature":
            head, payload, signature = token.split(".")
            forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            forged["email"] = "mallory@example.test"
            payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{head}.{payload}.{signature}"
        return token

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        query = dict(parse_qsl(scope["query_string"].decode()))
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status = 404
        extra: dict[str, str] = {}
        payload: dict[str, Any] = {"error": "not found"}
        if path == ISSUER_PATH + ".well-known/openid-configuration":
            status, payload = 200, self.discovery()
        elif path == ISSUER_PATH + "jwks/":
            status, payload = 200, self.jwks()
        elif path == "/application/o/authorize/":
            status, extra = self.authorize(query)
            payload = {}
        elif path == "/application/o/token/" and scope["method"] == "POST":
            status, payload = self.token(
                dict(parse_qsl(body.decode())), headers.get("authorization")
            )
        elif path == ISSUER_PATH + "end-session/":
            status, payload = 200, {"signed_out": True}
        encoded = json.dumps(payload).encode()
        response_headers = [(b"content-type", b"application/json")]
        response_headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": encoded})


class ThreadedServer:
    """An ASGI app on a loopback port, served by uvicorn in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)  # connections queue from now on, before the thread is up
        host, port = self.sock.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_settings(provider: LoopbackProvider, port: int) -> dict[str, str]:
    """The environment that points a priority-notify server on `port` at this provider."""
    return {
        "AUTHENTIK_ISSUER_URL": provider.issuer,
        "AUTHENTIK_CLIENT_ID": CLIENT_ID,
        "AUTHENTIK_CLIENT_SECRET": CLIENT_SECRET,
        "AUTHENTIK_REDIRECT_URI": f"http://127.0.0.1:{port}/auth/callback",
    }
