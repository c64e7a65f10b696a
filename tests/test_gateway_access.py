"""Gateway settings and access: bearer JWTs, roles, the evaluation policy from settings."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from gateway.auth import READ_ALL, READ_DEALS, WRITE, Forbidden, TokenVerifier, Unauthenticated
from gateway.settings import GatewaySettings

SECRET = "a-jwt-secret-for-the-tests-0123456789"


def settings(**overrides) -> GatewaySettings:
    return GatewaySettings(_env_file=None, **{"jwt_secret": SECRET, **overrides})


def token(claims: dict | None = None, *, key=SECRET, algorithm="HS256", headers=None) -> str:
    body = {"sub": "ana@example.com", "roles": ["pm"], "exp": int(time.time()) + 600}
    body.update(claims or {})
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm, headers)


async def test_a_valid_token_names_the_person_and_roles():
    principal = await TokenVerifier(settings()).verify(token({"roles": ["viewer", "crm"]}))

    assert principal.sub == "ana@example.com"
    assert principal.roles == {"viewer", "crm"}


# Built when the test runs, not when it is collected: expiry times must be fresh.
REFUSED = {
    "wrong-secret": lambda: token(key="another-secret-entirely-0123456789"),
    "expired": lambda: token({"exp": int(time.time()) - 10}),
    "no-exp": lambda: token({"exp": None}),
    "no-sub": lambda: token({"sub": None}),
    "blank-sub": lambda: token({"sub": "  "}),
    "unknown-role": lambda: token({"roles": ["root"]}),
    "roles-not-list": lambda: token({"roles": "pm"}),
    "alg-none": lambda: jwt.encode(
        {"sub": "x", "roles": ["pm"], "exp": int(time.time()) + 60}, None, "none"
    ),
    "garbage": lambda: "not-a-jwt",
}


@pytest.mark.parametrize("case", REFUSED)
async def test_anything_else_is_unauthenticated(case):
    with pytest.raises(Unauthenticated):
        await TokenVerifier(settings()).verify(REFUSED[case]())


async def test_audience_and_issuer_are_checked_when_configured():
    verifier = TokenVerifier(settings(jwt_audience="dealgate", jwt_issuer="https://idp"))

    ok = await verifier.verify(token({"aud": "dealgate", "iss": "https://idp"}))
    assert ok.sub == "ana@example.com"
    with pytest.raises(Unauthenticated):
        await verifier.verify(token({"aud": "another-app", "iss": "https://idp"}))


@pytest.mark.parametrize(
    ("roles", "read_all", "read_deals", "write"),
    [
        (["crm"], False, True, False),
        (["viewer"], True, True, False),
        (["pm"], True, True, True),
        (["admin"], True, True, True),
        ([], False, False, False),
    ],
)
async def test_what_each_role_may_do(roles, read_all, read_deals, write):
    principal = await TokenVerifier(settings()).verify(token({"roles": roles}))

    for allowed, expected in ((READ_ALL, read_all), (READ_DEALS, read_deals), (WRITE, write)):
        if expected:
            principal.require(allowed)
        else:
            with pytest.raises(Forbidden):
                principal.require(allowed)


@pytest.fixture
def jwks_server():
    """Publishes one RSA public key as a JWKS on a local port, as an identity provider does."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "key-1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", private_key
    server.shutdown()
    server.server_close()


async def test_rs256_tokens_verify_against_the_published_keys(jwks_server):
    url, private_key = jwks_server
    verifier = TokenVerifier(settings(jwt_algorithm="RS256", jwks_url=url))

    principal = await verifier.verify(
        token(key=private_key, algorithm="RS256", headers={"kid": "key-1"})
    )

    assert principal.roles == {"pm"}
    with pytest.raises(Unauthenticated):  # an HS256 token, even one signed with the secret
        await verifier.verify(token(headers={"kid": "key-1"}))
    with pytest.raises(Unauthenticated):  # a key the provider never published
        await verifier.verify(token(key=private_key, algorithm="RS256", headers={"kid": "key-9"}))


def test_settings_read_the_dealgate_environment(monkeypatch):
    monkeypatch.setenv(
        "DEALGATE_SALESFORCE_ORGS",
        "00D000000000001AAA=secret-of-the-first-org-0001, "
        "00D000000000002AAA = second-secret-0000000002",
    )
    monkeypatch.setenv("DEALGATE_SIGNOFF_SEVERITIES", "blocker")
    monkeypatch.setenv("DEALGATE_DATE_MARGIN_DAYS", "14")
    monkeypatch.setenv("DEALGATE_POLICY_VERSION", "strict-2")

    loaded = GatewaySettings(_env_file=None)

    assert loaded.salesforce_orgs == {
        "00d000000000001aaa": "secret-of-the-first-org-0001",
        "00d000000000002aaa": "second-secret-0000000002",
    }
    policy = loaded.policy()
    assert (policy.version, policy.date_margin_days, policy.signoff_severities) == (
        "strict-2",
        14,
        {"blocker"},
    )


def test_production_refuses_every_development_secret(monkeypatch):
    monkeypatch.setenv("DEALGATE_ENV", "production")

    with pytest.raises(ValidationError) as refused:
        GatewaySettings(_env_file=None)

    for name in ("JWT_SECRET", "WEBHOOK_SECRET", "HUBSPOT_APP_SECRET", "SERVICE_TOKEN"):
        assert f"DEALGATE_{name}" in str(refused.value)  # what to set, by its variable


@pytest.mark.parametrize(
    "overrides",
    [
        {"webhook_secret": "not-whsec"},
        {"webhook_secret": "whsec_c2hvcnQ="},
        {"jwt_algorithm": "RS256"},
        {"jwt_secret": "short"},
        {"signoff_severities": "blocker,fatal"},
    ],
)
def test_bad_settings_are_refused(overrides):
    with pytest.raises(ValidationError):
        GatewaySettings(_env_file=None, **overrides)
