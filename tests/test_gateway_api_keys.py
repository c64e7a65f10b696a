"""API keys for machine clients: made and revoked by an admin, sent like a JWT, kept hashed,
their last use recorded; and a CRM's gate check by its own deal id with one."""

from sqlalchemy import select

from kit.db import create_engine
from services.commitments.tables import api_keys
from tests.commitments_helpers import crm_event
from tests.conftest import SERVICE_TOKEN
from tests.gateway_helpers import PM, bearer, post_webhook
from tests.support.clients import client_of

ADMIN = bearer("admin", sub="root@example.com")


async def make_key(gateway, name: str = "Salesforce gate check", roles=("crm",)) -> dict:
    response = await gateway.post(
        "/v1/api-keys", json={"name": name, "roles": list(roles)}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_made_by_an_admin_checks_the_gate_as_its_roles_allow(stack, gateway):
    made = await make_key(gateway)
    assert made["key"].startswith("dgk_")
    assert len(made["key"]) > 40
    assert made["prefix"] == made["key"][:10]
    assert made["created_by"] == "root@example.com"
    assert made["last_used_at"] is None
    key = {"Authorization": f"Bearer {made['key']}"}
    await post_webhook(gateway, crm_event())

    gate = await gateway.get(
        "/v1/deals/readiness", params={"source": "generic", "external_id": "D-1001"}, headers=key
    )
    assert gate.status_code == 200
    assert gate.json()["ready"] is False
    assert (await gateway.get("/v1/commitments", headers=key)).status_code == 403  # crm only

    read = (await gateway.get(f"/v1/api-keys/{made['id']}", headers=ADMIN)).json()
    assert read["last_used_at"] is not None
    assert "key" not in read
    listed = (await gateway.get("/v1/api-keys", headers=ADMIN)).json()["items"]
    assert [item["id"] for item in listed] == [made["id"]]
    engine = create_engine(stack.commitments_app.state.settings.database_url)
    try:
        async with engine.connect() as connection:
            kept = (await connection.execute(select(api_keys))).one()
    finally:
        await engine.dispose()
    assert made["key"] not in {str(value) for value in kept}  # only its hash is kept


async def test_only_an_admin_makes_or_revokes_keys(gateway):
    body = {"name": "x", "roles": ["crm"]}
    assert (await gateway.post("/v1/api-keys", json=body, headers=PM)).status_code == 403
    assert (await gateway.post("/v1/api-keys", json=body)).status_code == 401
    bad = await gateway.post("/v1/api-keys", json={"name": "x", "roles": ["root"]}, headers=ADMIN)
    assert bad.status_code == 422
    made = await make_key(gateway, roles=("admin",))
    as_key = {"Authorization": f"Bearer {made['key']}"}
    # An admin's key is an admin: it may list keys (and so revoke itself).
    assert (await gateway.get("/v1/api-keys", headers=as_key)).status_code == 200


async def test_a_revoked_key_is_refused_at_once_and_an_unknown_one_always(stack, gateway):
    made = await make_key(gateway)
    key = {"Authorization": f"Bearer {made['key']}"}
    assert (await gateway.get("/v1/deals", headers=key)).status_code == 200
    revoked = await gateway.delete(f"/v1/api-keys/{made['id']}", headers=ADMIN)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await gateway.get("/v1/deals", headers=key)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API key is unknown or revoked."
    again = await gateway.delete(f"/v1/api-keys/{made['id']}", headers=ADMIN)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    unknown = {"Authorization": "Bearer dgk_" + "x" * 43}
    assert (await gateway.get("/v1/deals", headers=unknown)).status_code == 401


async def test_a_key_revoked_through_another_replica_stops_within_the_cache_time(stack, gateway):
    made = await make_key(gateway)
    key = {"Authorization": f"Bearer {made['key']}"}
    assert (await gateway.get("/v1/deals", headers=key)).status_code == 200
    async with client_of(stack.commitments_app, SERVICE_TOKEN) as service:
        assert (await service.delete(f"/api-keys/{made['id']}")).status_code == 200
    # This replica looked it up moments ago: it trusts it for the cache time.
    assert (await gateway.get("/v1/deals", headers=key)).status_code == 200
    stack.gateway_app.state.api_keys.cache_seconds = 0
    stack.gateway_app.state.api_keys.forget(made["id"])
    assert (await gateway.get("/v1/deals", headers=key)).status_code == 401
