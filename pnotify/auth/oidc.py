"""OpenID Connect relying party, written directly with httpx and pyjwt.

Discovery comes from the issuer (Authentik issuers are `https://host/application/o/<slug>/`
with the trailing slash, and its authorize and token endpoints live outside that path, so every
endpoint is taken from discovery). The JWKS is fetched with httpx — pyjwt's own client blocks on
urllib — cached, and fetched again once when a token names an unknown `kid` (key rotation).

Signatures: asymmetric algorithms against the JWKS; HS256 with the client secret only when the
provider publishes no keys at all (Authentik without a signing key does exactly that). `none`
is never accepted, and an HMAC token is never checked against a public key, so algorithm
confusion has nothing to work with. pyjwt has no nonce check: it is done here.
"""

from __future__ import annotations

import base64
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
import jwt

from pnotify.auth.login import LoginRequest, OIDCError, ProviderUnavailable
from pnotify.config import OIDCSettings

HTTP_TIMEOUT = httpx.Timeout(5.0)
METADATA_TTL_SECONDS = 3600.0
LEEWAY_SECONDS = 60
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str
    email: str
    name: str
    id_token: str


class OIDCClient:
    def __init__(self, settings: OIDCSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        self._metadata: ProviderMetadata | None = None
        self._metadata_fetched = 0.0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_loaded = False

    async def close(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                f"the identity provider did not answer ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"the identity provider answered {response.status_code} for {url}"
            )
        try:
            value = response.json()
        except ValueError:
            raise ProviderUnavailable(
                f"the identity provider sent something that is not JSON from {url}"
            ) from None
        if not isinstance(value, dict):
            raise ProviderUnavailable(f"unexpected answer from {url}")
        return value

    async def metadata(self) -> ProviderMetadata:
        if (
            self._metadata is not None
            and time.monotonic() - self._metadata_fetched < METADATA_TTL_SECONDS
        ):
            return self._metadata
        issuer = self.settings.issuer_url
        document = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != issuer:
            raise OIDCError(
                f"AUTHENTIK_ISSUER_URL is {issuer!r} but the provider calls itself "
                f"{document.get('issuer')!r}; they must match exactly (mind the trailing slash)"
            )
        try:
            metadata = ProviderMetadata(
                issuer=issuer,
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                end_session_endpoint=document.get("end_session_endpoint"),
                token_auth_methods=tuple(
                    document.get("token_endpoint_auth_methods_supported")
                    or ("client_secret_basic",)
                ),
            )
        except KeyError as missing:
            raise OIDCError(f"the provider's discovery document has no {missing.args[0]}") from None
        self._metadata, self._metadata_fetched = metadata, time.monotonic()
        return metadata

    async def authorization_url(self, login: LoginRequest) -> str:
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_uri,
                "scope": "openid email profile",
                "state": login.state,
                "nonce": login.nonce,
                "code_challenge": login.code_challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return metadata.authorization_endpoint + separator + query

    async def exchange(self, code: str, login: LoginRequest) -> Identity:
        """Trade the code for tokens and check the ID token; raises OIDCError."""
        metadata = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        headers: dict[str, str] = {}
        if "client_secret_basic" in metadata.token_auth_methods:
            # RFC 6749 2.3.1: both parts form-encoded before base64.
            pair = (
                f"{quote_plus(self.settings.client_id)}:{quote_plus(self.settings.client_secret)}"
            )
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif "client_secret_post" in metadata.token_auth_methods:
            form |= {
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret,
            }
        else:
            raise OIDCError(
                "the provider supports neither client_secret_basic nor client_secret_post"
            )
        try:
            response = await self._http.post(metadata.token_endpoint, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                f"the identity provider did not answer ({type(error).__name__})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            reason = (
                body.get("error_description") or body.get("error")
                if isinstance(body, dict)
                else None
            )
            raise OIDCError(
                f"the provider refused the sign-in code ({reason or response.status_code})"
            )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise OIDCError("the provider's answer has no ID token")
        claims = await self.verify_id_token(id_token, login.nonce)
        return Identity(
            issuer=self.settings.issuer_url,
            subject=str(claims["sub"]),
            email=str(claims.get("email") or ""),
            name=str(
                claims.get("name") or claims.get("preferred_username") or claims.get("email") or ""
            ),
            id_token=id_token,
        )

    async def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OIDCError("the ID token is malformed") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm in ASYMMETRIC_ALGORITHMS:
            key = await self._signing_key(header.get("kid"), str(algorithm))
        elif algorithm == "HS256":
            await self._load_keys(force=bool(self._keys))  # keys may have been withdrawn since
            if self._keys:
                raise OIDCError(
                    "the ID token is signed HS256 but the provider publishes signing keys"
                )
            key = self.settings.client_secret.encode()
        else:
            raise OIDCError(f"the ID token's algorithm {algorithm!r} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[str(algorithm)],
                audience=self.settings.client_id,
                issuer=self.settings.issuer_url,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise OIDCError("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise OIDCError("the ID token was issued for another client (aud)") from None
        except jwt.InvalidIssuerError:
            raise OIDCError("the ID token comes from another issuer (iss)") from None
        except jwt.InvalidSignatureError:
            raise OIDCError("the ID token's signature is not valid") from None
        except jwt.PyJWTError as error:
            raise OIDCError(f"the ID token is not valid ({error})") from None
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce, nonce):
            raise OIDCError("the ID token's nonce does not match this sign-in")
        if "azp" in claims and claims["azp"] != self.settings.client_id:
            raise OIDCError("the ID token was issued to another party (azp)")
        return claims

    async def _signing_key(self, kid: Any, algorithm: str) -> Any:
        await self._load_keys()
        found = self._find_key(kid)
        if found is None:
            # A new kid: the provider rotated its keys. ID tokens only ever come from the
            # provider's own token endpoint, so an unknown kid cannot be used to make us
            # refetch at will.
            await self._load_keys(force=True)
            found = self._find_key(kid)
        if found is None:
            raise OIDCError("the ID token is signed with a key the provider does not publish")
        return found.key

    def _find_key(self, kid: Any) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(str(kid))
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    async def _load_keys(self, *, force: bool = False) -> None:
        if self._keys_loaded and not force:
            return
        metadata = await self.metadata()
        document = await self._get_json(metadata.jwks_uri)
        keys: dict[str, jwt.PyJWK] = {}
        for index, entry in enumerate(document.get("keys") or []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK.from_dict(entry)
            except jwt.PyJWTError:
                continue  # a key type we do not use
            keys[str(entry.get("kid", f"#{index}"))] = key
        self._keys, self._keys_loaded = keys, True
