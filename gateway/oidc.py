"""The OpenID Connect provider people sign in to the review console with.

The rule, when `DEALGATE_OIDC_ISSUER` is set: a person's bearer token is the provider's
access token, RS256, verified against the keys its discovery document publishes
(`jwks_uri`), with `iss` equal to the issuer and `aud` holding `DEALGATE_OIDC_AUDIENCE`
(by default the console's client id); `sub` and `roles` are read as from any token. An ID
token is not an access token: with the client id as the audience the two would otherwise
pass alike, so a token carrying an ID token's own claims (`nonce`, which the console always
asks for, `at_hash`, `c_hash`) is refused. The discovery document is read when first needed
and again after `DISCOVERY_TTL_SECONDS`, and its own `issuer` must be the one configured
(OpenID Connect Discovery 1.0, section 4.3), so a document served from elsewhere cannot name
other keys.

A provider briefly out of reach costs little: a failed read is tried again only after
`RETRY_SECONDS` (requests meanwhile use the document read before, or are refused at once
when there is none), and a token naming a key not in the cached set makes the keys be read
again at most once every `KEY_REFRESH_SECONDS`, so tokens with made-up key ids cannot make
the gateway fetch the key set on every request.
"""

import asyncio
import time
from typing import Any

import httpx
import jwt

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TTL_SECONDS = 3600.0
RETRY_SECONDS = 30.0
KEY_REFRESH_SECONDS = 60.0
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")
ALGORITHMS = ["RS256"]
# Without these the console cannot sign in, nor the gateway verify.
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderUnavailable(Exception):
    """The provider's discovery document cannot be read or is unusable (503)."""


class OidcProvider:
    def __init__(self, issuer: str, *, timeout: float = 5.0) -> None:
        self.issuer, self.timeout = issuer, timeout
        self._metadata: dict[str, Any] | None = None
        self._read_at = 0.0
        self._retry_at = -float("inf")
        self._failure = ""
        self._keys_read_at = -float("inf")
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = asyncio.Lock()

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY_PATH

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            fresh = now - self._read_at < DISCOVERY_TTL_SECONDS
            if self._metadata is not None and (fresh or now < self._retry_at):
                return self._metadata
            if now < self._retry_at:
                raise ProviderUnavailable(self._failure)
            try:
                self._metadata = await self._discover()
            except ProviderUnavailable as error:
                self._retry_at, self._failure = time.monotonic() + RETRY_SECONDS, str(error)
                if self._metadata is not None:
                    return self._metadata  # as read an hour ago: better than refusing everyone
                raise
            self._read_at = time.monotonic()
            jwks_uri = self._metadata["jwks_uri"]
            if self._jwks is None or self._jwks.uri != jwks_uri:
                self._jwks = jwt.PyJWKClient(
                    jwks_uri, cache_keys=True, lifespan=300, timeout=int(self.timeout)
                )
            return self._metadata

    async def _discover(self) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.discovery_url)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document could not be read: {error}."
            ) from None
        if not isinstance(document, dict):
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document answered {response.status_code}."
            )
        missing = [name for name in REQUIRED_METADATA if not isinstance(document.get(name), str)]
        if missing:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document lacks {', '.join(missing)}."
            )
        if document["issuer"] != self.issuer:
            raise ProviderUnavailable(
                f"The sign-in provider's discovery document names the issuer "
                f"{document['issuer']!r}, not {self.issuer!r}."
            )
        return document

    async def claims(self, token: str, audience: str) -> dict[str, Any]:
        """The token's claims once verified; jwt.PyJWTError when it does not verify."""
        await self.metadata()
        # PyJWKClient fetches over blocking I/O (cached); keep it off the event loop.
        key = await asyncio.to_thread(self._signing_key, token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=self.issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
        if any(claim in claims for claim in ID_TOKEN_CLAIMS):
            raise jwt.InvalidTokenError("an ID token is not an access token")
        return claims

    def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        kid = jwt.get_unverified_header(token).get("kid")
        found = self._key(kid, refresh=False)
        if found is None and time.monotonic() - self._keys_read_at >= KEY_REFRESH_SECONDS:
            self._keys_read_at = time.monotonic()
            found = self._key(kid, refresh=True)
        if found is None:
            raise jwt.PyJWKClientError(f"The provider publishes no key {kid!r}.")
        return found.key

    def _key(self, kid: str | None, *, refresh: bool) -> jwt.PyJWK | None:
        assert self._jwks is not None
        keys = self._jwks.get_signing_keys(refresh=refresh)
        return next((key for key in keys if key.key_id == kid), None)
