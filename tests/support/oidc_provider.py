"""A small OpenID Connect provider for the tests: discovery, an authorize endpoint that signs
in one configured person and sends them back with a code, a token endpoint that checks the
PKCE verifier (S256 only), the client and the redirect URI, and the JWKS. Tokens are RS256
with sub, roles, iss, aud, exp. `served()` runs it as a real server (for a browser and for
the gateway's key fetches); `app` alone works over httpx.ASGITransport.
"""

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port

KEY_ID = "test-key-1"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Person:
    sub: str
    roles: list[str]


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    person: Person
    expires: float
    nonce: str | None = None


@dataclass
class LocalProvider:
    issuer: str
    client_id: str
    redirect_uris: list[str]
    person: Person = field(default_factory=lambda: Person("ana@example.com", ["pm", "viewer"]))
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    token_seconds: int = 600
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key_reads: int = 0  # how often its key set was fetched

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST", "OPTIONS"]),
                Route("/jwks", self.jwks),
            ]
        )

    @property
    def allowed_origins(self) -> set[str]:
        return {_origin(uri) for uri in self.redirect_uris}

    def mint(self, person: Person | None = None, **claims: object) -> str:
        """A token as the token endpoint issues it; `claims` override any claim (None drops)."""
        person = person or self.person
        body: dict[str, object] = {
            "iss": self.issuer, "aud": self.client_id, "sub": person.sub, "roles": person.roles,
            "iat": int(time.time()), "exp": int(time.time()) + self.token_seconds,
        }  # fmt: skip
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, self.key, "RS256", headers={"kid": KEY_ID})

    async def discovery(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            },
            headers={"Access-Control-Allow-Origin": "*"},
        )

    async def jwks(self, _request: Request) -> Response:
        self.key_reads += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: Request) -> Response:
        """Signs the configured person in at once (no login page), as a provider with a
        live session does. A wrong client or redirect URI is never redirected to (RFC 6749
        4.1.2.1): it is answered here."""
        query = request.query_params
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        if client_id != self.client_id:
            return PlainTextResponse("unknown client_id", status_code=400)
        if redirect_uri not in self.redirect_uris:
            return PlainTextResponse("redirect_uri not registered", status_code=400)
        state = query.get("state")
        error = None
        if query.get("response_type") != "code":
            error = "unsupported_response_type"
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            error = "invalid_request"  # PKCE with S256 is required; `plain` is refused
        elif "openid" not in query.get("scope", "").split():
            error = "invalid_scope"
        if error:
            answer = {"error": error, **({"state": state} if state else {})}
            return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            challenge=query["code_challenge"],
            person=self.person,
            expires=time.time() + 60,
            nonce=query.get("nonce"),
        )
        answer = {"code": code, **({"state": state} if state else {})}
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)

    def _cors(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin not in self.allowed_origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def token(self, request: Request) -> Response:
        cors = self._cors(request)
        if request.method == "OPTIONS":
            allow = {"Access-Control-Allow-Methods": "POST",
                     "Access-Control-Allow-Headers": "Content-Type"} if cors else {}  # fmt: skip
            return Response(status_code=204, headers={**cors, **allow})
        # Form-encoded, as RFC 6749 has it (parsed here: Starlette's form needs another package).
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.token_requests.append(form)

        def refuse(error: str, description: str) -> Response:
            body = {"error": error, "error_description": description}
            return JSONResponse(body, status_code=400, headers=cors)

        if form.get("grant_type") != "authorization_code":
            return refuse("unsupported_grant_type", "only authorization_code")
        # A code is used once, whatever the outcome (RFC 6749 4.1.2).
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.time():
            return refuse("invalid_grant", "unknown, used or expired code")
        if form.get("client_id") != grant.client_id:
            return refuse("invalid_client", "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return refuse("invalid_grant", "redirect_uri differs from the authorization's")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
            s256(verifier), grant.challenge
        ):
            return refuse("invalid_grant", "code_verifier does not match the code_challenge")
        # As providers do: the nonce asked for goes in the ID token, never the access token.
        body = {"access_token": self.mint(grant.person),
                "id_token": self.mint(grant.person, nonce=grant.nonce),
                "token_type": "Bearer", "expires_in": self.token_seconds}  # fmt: skip
        return JSONResponse(body, headers={**cors, "Cache-Control": "no-store"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextlib.contextmanager
def served(client_id: str, redirect_uris: list[str], **options: object) -> Iterator[LocalProvider]:
    """The provider as a real server on a free loopback port, in a thread of its own."""
    port = free_port()
    provider = LocalProvider(f"http://127.0.0.1:{port}", client_id, redirect_uris, **options)
    config = uvicorn.Config(provider.app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OpenID provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
