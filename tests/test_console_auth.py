"""Signing in to the review console through OpenID Connect: the test provider holds to the
authorization code flow with PKCE (so the browser test proves something), and the gateway
takes the provider's tokens by the rule of `gateway.oidc` and nothing else."""

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from gateway.app import create_app
from gateway.auth import TokenVerifier, Unauthenticated, local_token
from gateway.oidc import OidcProvider, ProviderUnavailable
from gateway.settings import GatewaySettings
from tests.support.clients import running
from tests.support.oidc_provider import KEY_ID, LocalProvider, s256, served

CLIENT = "dealgate-console"
CONSOLE = "http://127.0.0.1:8000/console/"
VERIFIER = "v" * 20 + "-the-verifier-of-this-sign-in-0123456789"
SECRET = "a-jwt-secret-for-the-console-tests-0123456789"


def provider_client(provider: LocalProvider) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=provider.app), base_url=provider.issuer
    )


async def authorize(client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    query = {
        "response_type": "code", "client_id": CLIENT, "redirect_uri": CONSOLE,
        "scope": "openid profile", "state": "state-1", "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256", **overrides,
    }  # fmt: skip
    return await client.get("/authorize", params=query)


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CONSOLE
    query = parse_qs(location.query)
    assert query["state"] == ["state-1"]
    return query["code"][0]


async def exchange(client: httpx.AsyncClient, code: str, **overrides: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CONSOLE,
            "client_id": CLIENT, "code_verifier": VERIFIER, **overrides}  # fmt: skip
    return await client.post("/token", data=form, headers={"Origin": "http://127.0.0.1:8000"})


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider("http://idp.test", CLIENT, [CONSOLE])


async def test_the_right_verifier_gets_a_token_of_the_signed_in_person(provider):
    async with provider_client(provider) as client:
        answer = await exchange(client, code_of(await authorize(client)))
        keys = (await client.get("/jwks")).json()

    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    token = answer.json()["access_token"]
    assert jwt.get_unverified_header(token)["kid"] == KEY_ID
    key = jwt.PyJWK(keys["keys"][0]).key
    claims = jwt.decode(token, key, ["RS256"], audience=CLIENT, issuer="http://idp.test")
    assert (claims["sub"], claims["roles"]) == ("ana@example.com", ["pm", "viewer"])
    assert claims["exp"] > time.time()


REFUSED_EXCHANGES = {
    "wrong verifier": {"code_verifier": "w" * 43},
    "verifier equal to the challenge (plain)": {"code_verifier": s256(VERIFIER)},
    "another client": {"client_id": "someone-else"},
    "another redirect uri": {"redirect_uri": "http://127.0.0.1:8000/elsewhere/"},
    "another grant type": {"grant_type": "refresh_token"},
}


@pytest.mark.parametrize("case", REFUSED_EXCHANGES)
async def test_an_exchange_that_does_not_match_the_authorization_is_refused(provider, case):
    async with provider_client(provider) as client:
        code = code_of(await authorize(client))
        refused = await exchange(client, code, **REFUSED_EXCHANGES[case])
        again = await exchange(client, code)

    assert refused.status_code == 400
    assert refused.json()["error"] in {"invalid_grant", "invalid_client", "unsupported_grant_type"}
    assert "access_token" not in refused.json()
    if case != "another grant type":  # a refused code is spent: the right verifier is late
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"


async def test_a_code_is_used_once(provider):
    async with provider_client(provider) as client:
        code = code_of(await authorize(client))
        first, second = await exchange(client, code), await exchange(client, code)

    assert first.status_code == 200
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")


async def test_authorize_takes_only_s256_and_never_redirects_to_an_unknown_place(provider):
    async with provider_client(provider) as client:
        plain = await authorize(client, code_challenge_method="plain")
        elsewhere = await authorize(client, redirect_uri="https://attacker.example/")
        stranger = await authorize(client, client_id="someone-else")

    assert plain.status_code == 302
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    assert (elsewhere.status_code, stranger.status_code) == (400, 400)
    assert "location" not in elsewhere.headers


async def test_the_token_endpoint_answers_cors_only_for_the_console_origin(provider):
    async with provider_client(provider) as client:
        preflight = await client.options("/token", headers={"Origin": "http://127.0.0.1:8000"})
        foreign = await client.post(
            "/token", data={"grant_type": "x"}, headers={"Origin": "https://attacker.example"}
        )

    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert "access-control-allow-origin" not in foreign.headers


# The gateway's side.


def oidc_settings(issuer: str, **overrides) -> GatewaySettings:
    values = {"jwt_secret": SECRET, "oidc_issuer": issuer, "oidc_client_id": CLIENT}
    return GatewaySettings(_env_file=None, **{**values, **overrides})


@pytest.fixture
def live_provider():
    with served(CLIENT, [CONSOLE]) as provider:
        yield provider


async def test_the_gateway_takes_the_providers_tokens(live_provider):
    verifier = TokenVerifier(oidc_settings(live_provider.issuer))

    principal = await verifier.verify(live_provider.mint())

    assert principal.sub == "ana@example.com"
    assert principal.roles == {"pm", "viewer"}


def _another_key_token(provider: LocalProvider) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": provider.issuer, "aud": CLIENT, "sub": "eve@example.com",
              "roles": ["admin"], "exp": int(time.time()) + 600}  # fmt: skip
    return jwt.encode(claims, other, "RS256", headers={"kid": KEY_ID})


REFUSED_TOKENS = {
    "another audience": lambda p: p.mint(aud="another-app"),
    "another issuer": lambda p: p.mint(iss="https://elsewhere.example"),
    "expired": lambda p: p.mint(exp=int(time.time()) - 30),
    "no audience": lambda p: p.mint(aud=None),
    "unknown role": lambda p: p.mint(roles=["root"]),
    "an ID token (it carries the sign-in's nonce)": lambda p: p.mint(nonce="n-0S6_WzA2Mj"),
    "an ID token (it carries at_hash)": lambda p: p.mint(at_hash="77QmUPtjPfzWtF2AnpK9RQ"),
    "signed by a key the provider does not publish": _another_key_token,
    "HS256 with the gateway's own secret": lambda p: jwt.encode(
        {
            "sub": "eve@example.com",
            "roles": ["admin"],
            "exp": int(time.time()) + 600,
            "iss": p.issuer,
            "aud": CLIENT,
        },
        SECRET,
        "HS256",
        headers={"kid": KEY_ID},
    ),
}


@pytest.mark.parametrize("case", REFUSED_TOKENS)
async def test_any_other_token_is_refused(live_provider, case):
    verifier = TokenVerifier(oidc_settings(live_provider.issuer))

    with pytest.raises(Unauthenticated):
        await verifier.verify(REFUSED_TOKENS[case](live_provider))


async def test_made_up_key_ids_do_not_make_the_gateway_fetch_keys_each_time(live_provider):
    verifier = TokenVerifier(oidc_settings(live_provider.issuer))
    assert (await verifier.verify(live_provider.mint())).sub  # the key set read once
    read = live_provider.key_reads

    for n in range(5):
        claims = {"sub": "eve@example.com", "exp": int(time.time()) + 60}
        forged = jwt.encode(claims, live_provider.key, "RS256", headers={"kid": f"made-up-{n}"})
        with pytest.raises(Unauthenticated, match="no key"):
            await verifier.verify(forged)

    assert live_provider.key_reads - read <= 1  # one look for a new key, then none for a while


@pytest.fixture
def discovery_reads(monkeypatch) -> list[str]:
    """Each read of a discovery document, by issuer, from here on."""
    reads: list[str] = []
    real_discover = OidcProvider._discover

    async def counted(self):
        reads.append(self.issuer)
        return await real_discover(self)

    monkeypatch.setattr(OidcProvider, "_discover", counted)
    return reads


async def test_a_provider_gone_at_refresh_time_leaves_the_document_read_before(
    discovery_reads,
):
    with served(CLIENT, [CONSOLE]) as provider:
        verifier = TokenVerifier(oidc_settings(provider.issuer))
        token = provider.mint()
        assert (await verifier.verify(token)).sub
    discovery_reads.clear()
    verifier.oidc._read_at = -float("inf")  # an hour later: the document is due again

    for _ in range(3):
        assert (await verifier.verify(token)).sub == "ana@example.com"

    assert len(discovery_reads) == 1  # tried once, then left alone for a while


async def test_a_provider_never_read_is_not_asked_again_on_every_request(discovery_reads):
    with served(CLIENT, [CONSOLE]) as provider:
        issuer, token = provider.issuer, provider.mint()
    verifier = TokenVerifier(oidc_settings(issuer))  # the provider has stopped

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await verifier.verify(token)

    assert len(discovery_reads) == 1


async def test_the_audience_setting_names_the_access_tokens_audience(live_provider):
    verifier = TokenVerifier(oidc_settings(live_provider.issuer, oidc_audience="dealgate-api"))

    assert (await verifier.verify(live_provider.mint(aud="dealgate-api"))).sub
    with pytest.raises(Unauthenticated):
        await verifier.verify(live_provider.mint())  # aud = the client id


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(live_provider):
    verifier = TokenVerifier(oidc_settings(live_provider.issuer))
    token = live_provider.mint()
    configured = live_provider.issuer
    live_provider.issuer = "https://impostor.example"  # what its document now says

    with pytest.raises(ProviderUnavailable, match="impostor"):
        await verifier.verify(token)
    live_provider.issuer = configured


async def test_a_provider_out_of_reach_is_503_not_401():
    with served(CLIENT, [CONSOLE]) as provider:
        issuer, token = provider.issuer, provider.mint()
    settings = oidc_settings(
        issuer, sweep_interval_seconds=0, signoff_check_interval_seconds=0
    )  # the provider has stopped: its port is closed
    async with running(create_app(settings)) as gateway:
        answer = await gateway.get("/v1/deals", headers={"Authorization": f"Bearer {token}"})
        config = await gateway.get("/console/config.json")

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "discovery document" in answer.json()["detail"]
    assert config.status_code == 503


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"oidc_issuer": "https://idp.example"}, "DEALGATE_OIDC_CLIENT_ID"),
        ({"oidc_client_id": CLIENT}, "DEALGATE_OIDC_ISSUER"),
        ({"oidc_issuer": "idp.example", "oidc_client_id": CLIENT}, "oidc_issuer"),
        (
            {"oidc_issuer": "https://idp.example", "oidc_client_id": CLIENT,
             "jwks_url": "https://idp.example/keys"},
            "DEALGATE_JWKS_URL",
        ),
        (
            {"oidc_issuer": "https://idp.example", "oidc_client_id": CLIENT,
             "jwt_audience": "x"},
            "DEALGATE_JWT_AUDIENCE",
        ),
        (
            {"oidc_issuer": "https://idp.example", "oidc_client_id": CLIENT,
             "oidc_scopes": "profile email"},
            "openid",
        ),
        (
            {"oidc_issuer": "http://idp.example", "oidc_client_id": CLIENT,
             "environment": "production"},
            "https://",
        ),
    ],
)  # fmt: skip
def test_oidc_settings_that_cannot_work_are_refused(overrides, named):
    with pytest.raises(ValidationError, match=named):
        GatewaySettings(_env_file=None, jwt_secret=SECRET, **overrides)


def test_no_local_token_is_printed_while_people_sign_in_through_the_provider():
    settings = oidc_settings("https://idp.example")

    with pytest.raises(SystemExit, match="DEALGATE_OIDC_ISSUER"):
        local_token(settings, "ana@example.com", ["pm"], hours=1)
