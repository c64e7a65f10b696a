"""The /v1 API around the webhook: who may do what, PM decisions and links, the roadmap
behind roles, vision changes re-checking promises, reports, and the services failing."""

import asyncio
import json

import httpx
import jwt
import pytest

from gateway.app import create_app
from tests.commitments_helpers import crm_event, promise
from tests.conftest import SERVICE_TOKEN, gateway_settings
from tests.gateway_helpers import (
    CRM,
    PM,
    THREE_PROMISES,
    VIEWER,
    Intercepting,
    bearer,
    commitment,
    eventually,
    post_webhook,
    readiness,
    reviewer,
    roadmap_with_two_items,
)
from tests.support.clients import running


async def deal_with_three_promises(gateway) -> dict[str, str]:
    """External id -> commitment id: C-1 and C-3 need sign-off, C-2 is cleared."""
    await roadmap_with_two_items(gateway)
    await reviewer(gateway)  # ana, the PM of the tokens, reviews the items' (triage) area
    answer = (await post_webhook(gateway, crm_event(*THREE_PROMISES))).json()
    ids = {c["external_id"]: c["id"] for c in answer["commitments"]}
    return {**ids, "deal": answer["deal_id"]}


# Access ------------------------------------------------------------------------------------


async def test_no_token_is_401_with_a_bearer_challenge(gateway):
    response = await gateway.get("/v1/deals")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_token_signed_with_another_secret_is_401(gateway):
    forged = jwt.encode(
        {"sub": "eve@example.com", "roles": ["admin"], "exp": 4_000_000_000},
        "not-the-gateway-secret-0123456789abcdef",
        "HS256",
    )

    response = await gateway.get("/v1/deals", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("roles", "method", "path", "allowed"),
    [
        (("crm",), "GET", "/v1/deals", True),  # to find its deal by external id
        (("crm",), "GET", "/v1/commitments", False),
        (("crm",), "GET", "/v1/reports/summary", False),
        (("viewer",), "GET", "/v1/reports/summary", True),
        (("viewer",), "POST", "/v1/roadmap/items", False),
        (("viewer",), "PATCH", "/v1/roadmap/vision-tags/on-prem", False),
        (("crm", "viewer"), "GET", "/v1/deals", True),
    ],
)
async def test_roles_decide_what_a_caller_may_do(gateway, roles, method, path, allowed):
    response = await gateway.request(method, path, headers=bearer(*roles), json={})

    if allowed:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text


async def test_the_crm_may_ask_the_closing_gate_and_a_viewer_may_not_decide(gateway):
    ids = await deal_with_three_promises(gateway)

    assert (await gateway.get(f"/v1/deals/{ids['deal']}/readiness", headers=CRM)).status_code == 200
    decision = await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision", json={"decision": "approve"}, headers=VIEWER
    )
    assert decision.status_code == 403
    assert (await commitment(gateway, ids["C-1"]))["review_status"] == "needs_signoff"


async def test_the_internal_change_endpoint_and_metrics_need_the_service_token(gateway):
    assert (
        await gateway.post("/internal/roadmap-changes", json={"changes": []})
    ).status_code == 401
    assert (await gateway.get("/metrics", headers=PM)).status_code == 401
    token = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    assert (await gateway.get("/metrics", headers=token)).status_code == 200


# Decisions ---------------------------------------------------------------------------------


async def test_a_second_decision_is_409_and_a_stale_etag_412(gateway):
    ids = await deal_with_three_promises(gateway)
    stale = (await gateway.get(f"/v1/commitments/{ids['C-1']}", headers=PM)).headers["ETag"]
    approve = {"decision": "approve", "comment": "ok"}
    first = await gateway.post(f"/v1/commitments/{ids['C-1']}/decision", json=approve, headers=PM)
    assert first.status_code == 200

    with_stale_etag = await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision",
        json={"decision": "reject", "comment": "no"},
        headers={**PM, "If-Match": stale},
    )
    again = await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision",
        json={"decision": "reject", "comment": "no"},
        headers=bearer("admin", sub="root@example.com"),
    )

    assert with_stale_etag.status_code == 412
    assert again.status_code == 409
    assert len((await commitment(gateway, ids["C-1"]))["decisions"]) == 1


async def test_pms_deciding_at_once_one_wins_the_others_get_409_or_412(gateway):
    ids = await deal_with_three_promises(gateway)
    etag = (await gateway.get(f"/v1/commitments/{ids['C-1']}", headers=PM)).headers["ETag"]
    for n in range(6):
        await reviewer(gateway, f"pm{n}@example.com")

    answers = await asyncio.gather(
        *(
            gateway.post(
                f"/v1/commitments/{ids['C-1']}/decision",
                json={"decision": decision, "comment": f"by {n}"},
                headers={**bearer("pm", sub=f"pm{n}@example.com"), "If-Match": etag},
            )
            for n, decision in enumerate(["approve", "reject"] * 3)
        )
    )

    statuses = sorted(response.status_code for response in answers)
    assert statuses[0] == 200
    assert set(statuses[1:]) <= {409, 412}
    assert len((await commitment(gateway, ids["C-1"]))["decisions"]) == 1


async def test_a_rejection_without_a_comment_is_422(gateway):
    ids = await deal_with_three_promises(gateway)

    response = await gateway.post(
        f"/v1/commitments/{ids['C-3']}/decision", json={"decision": "reject"}, headers=PM
    )

    assert response.status_code == 422
    assert (await commitment(gateway, ids["C-3"]))["review_status"] == "needs_signoff"


async def test_an_admin_decides_as_admin(gateway):
    ids = await deal_with_three_promises(gateway)

    response = await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision",
        json={"decision": "approve", "conditions": "Pilot only"},
        headers=bearer("admin", sub="root@example.com"),
    )

    decision = response.json()["decisions"][0]
    assert (decision["decided_by"], decision["role"], decision["conditions"]) == (
        "root@example.com", "admin", "Pilot only"
    )  # fmt: skip


async def test_the_commitment_etag_answers_304_when_unchanged(gateway):
    ids = await deal_with_three_promises(gateway)
    first = await gateway.get(f"/v1/commitments/{ids['C-2']}", headers=VIEWER)

    again = await gateway.get(
        f"/v1/commitments/{ids['C-2']}",
        headers={**VIEWER, "If-None-Match": first.headers["ETag"]},
    )

    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


# Links -------------------------------------------------------------------------------------


async def test_an_unlinked_feature_lists_the_best_matches_and_a_link_evaluates_at_once(gateway):
    await roadmap_with_two_items(gateway)
    unlinked = promise("C-1", summary="Item RM-20", roadmap_item_key=None, promised_by=None)
    answer = (await post_webhook(gateway, crm_event(unlinked))).json()
    commitment_id = answer["commitments"][0]["id"]
    found = await commitment(gateway, commitment_id)
    assert found["review_status"] == "needs_signoff"
    (conflict,) = [c for c in found["conflicts"] if c["code"] == "unlinked"]
    matches = conflict["evidence"]["matches"]
    assert matches[0]["key"] == "RM-20"
    assert all(set(match) == {"key", "title", "score"} for match in matches)

    linked = await gateway.put(
        f"/v1/commitments/{commitment_id}/roadmap-link",
        json={"roadmap_item_key": "RM-20"},
        headers=PM,
    )

    assert linked.status_code == 200, linked.text
    assert linked.json()["review_status"] == "cleared"
    assert linked.json()["roadmap_item_key"] == "RM-20"
    assert linked.json()["link_source"] == "pm"
    assert linked.headers["ETag"]


async def test_a_link_while_the_roadmap_is_down_is_saved_and_evaluated_later(stack, gateway):
    await roadmap_with_two_items(gateway)
    unlinked = promise("C-1", summary="Item RM-20", roadmap_item_key=None, promised_by=None)
    answer = (await post_webhook(gateway, crm_event(unlinked))).json()
    commitment_id = answer["commitments"][0]["id"]
    stack.roadmap_network.up = False

    linked = await gateway.put(
        f"/v1/commitments/{commitment_id}/roadmap-link",
        json={"roadmap_item_key": "RM-20"},
        headers=PM,
    )

    assert linked.status_code == 200, linked.text
    assert linked.json()["review_status"] == "evaluation_pending"
    stack.roadmap_network.up = True
    cleared = await eventually(
        lambda: commitment(gateway, commitment_id), lambda c: c["review_status"] == "cleared"
    )
    assert cleared["roadmap_item_key"] == "RM-20"


async def test_a_token_whose_sub_no_history_can_keep_is_401(gateway):
    for sub in ("x" * 255, "ana\x00@example.com"):
        response = await gateway.get("/v1/reports/summary", headers=bearer("pm", sub=sub))
        assert response.status_code == 401, sub


async def test_a_link_with_a_stale_etag_is_412_and_changes_nothing(gateway):
    ids = await deal_with_three_promises(gateway)

    response = await gateway.put(
        f"/v1/commitments/{ids['C-3']}/roadmap-link",
        json={"roadmap_item_key": "RM-20"},
        headers={**PM, "If-Match": '"999"'},
    )

    assert response.status_code == 412
    assert (await commitment(gateway, ids["C-3"]))["roadmap_item_key"] is None


async def test_filters_and_pages_reach_the_service(gateway):
    await roadmap_with_two_items(gateway)
    first = (await post_webhook(gateway, crm_event(*THREE_PROMISES, deal="D-1"))).json()
    await post_webhook(gateway, crm_event(*THREE_PROMISES, deal="D-2"))

    of_first = await gateway.get(
        "/v1/commitments", params={"deal_id": first["deal_id"]}, headers=VIEWER
    )
    by_external_id = await gateway.get(
        "/v1/deals", params={"source": "generic", "external_id": "D-2"}, headers=VIEWER
    )
    page_one = await gateway.get("/v1/deals", params={"limit": 1}, headers=VIEWER)
    page_two = await gateway.get(
        "/v1/deals", params={"limit": 1, "cursor": page_one.json()["next_cursor"]}, headers=VIEWER
    )
    unknown = await gateway.get("/v1/deals", params={"colour": "red"}, headers=VIEWER)

    assert {c["deal_id"] for c in of_first.json()["items"]} == {first["deal_id"]}
    assert len(of_first.json()["items"]) == 3
    assert [d["external_id"] for d in by_external_id.json()["items"]] == ["D-2"]
    assert len(page_one.json()["items"]) == len(page_two.json()["items"]) == 1
    assert page_one.json()["items"][0]["id"] != page_two.json()["items"][0]["id"]
    assert unknown.status_code == 422


async def test_linking_an_unknown_commitment_is_404(gateway):
    response = await gateway.put(
        "/v1/commitments/0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10/roadmap-link",
        json={"roadmap_item_key": "RM-20"},
        headers=PM,
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# Roadmap behind roles, and its changes ----------------------------------------------------


async def test_roadmap_writes_keep_the_services_etags_and_preconditions(gateway):
    await roadmap_with_two_items(gateway)
    item = await gateway.get("/v1/roadmap/items/RM-20", headers=VIEWER)
    assert item.status_code == 200

    stale = await gateway.patch(
        "/v1/roadmap/items/RM-20", json={"title": "New"}, headers={**PM, "If-Match": '"999"'}
    )
    fresh = await gateway.patch(
        "/v1/roadmap/items/RM-20",
        json={"title": "New"},
        headers={**PM, "If-Match": item.headers["ETag"]},
    )
    tags = await gateway.get("/v1/roadmap/vision-tags", headers=VIEWER)
    unchanged = await gateway.get(
        "/v1/roadmap/vision-tags", headers={**VIEWER, "If-None-Match": tags.headers["ETag"]}
    )
    search = await gateway.get("/v1/roadmap/items/search", params={"q": "RM-12"}, headers=VIEWER)
    stale_delete = await gateway.delete(
        "/v1/roadmap/items/RM-20", headers={**PM, "If-Match": item.headers["ETag"]}
    )
    deleted = await gateway.delete("/v1/roadmap/items/RM-20", headers=PM)
    gone = await gateway.get("/v1/roadmap/items/RM-20", headers=VIEWER)

    assert stale.status_code == 412
    assert fresh.status_code == 200
    assert fresh.json()["title"] == "New"
    assert unchanged.status_code == 304
    assert search.json()["items"][0]["item"]["key"] == "RM-12"
    assert stale_delete.status_code == 412  # the ETag read before the title changed
    assert deleted.status_code == 204
    assert gone.status_code == 404


@pytest.mark.parametrize("tag_on", ["promise", "item"])
async def test_a_tag_turning_non_goal_reopens_the_promises_it_touches(gateway, tag_on):
    await roadmap_with_two_items(gateway)  # both items carry enterprise-security
    tags = ["enterprise-security"] if tag_on == "promise" else []
    event = crm_event(promise("C-2", roadmap_item_key="RM-20", promised_by=None, tags=tags))
    commitment_id = (await post_webhook(gateway, event)).json()["commitments"][0]["id"]
    assert (await commitment(gateway, commitment_id))["review_status"] == "cleared"

    changed = await gateway.patch(
        "/v1/roadmap/vision-tags/enterprise-security", json={"kind": "non_goal"}, headers=PM
    )
    assert changed.status_code == 200, changed.text

    reopened = await eventually(
        lambda: commitment(gateway, commitment_id),
        lambda c: c["review_status"] == "needs_signoff",
    )
    assert "non_goal" in {c["code"] for c in reopened["conflicts"]}


async def test_a_tag_on_the_promise_alone_turning_non_goal_reopens_it(gateway):
    await roadmap_with_two_items(gateway)
    tag = {"slug": "sso", "name": "SSO", "kind": "pillar"}
    assert (await gateway.post("/v1/roadmap/vision-tags", json=tag, headers=PM)).status_code == 201
    await asyncio.sleep(0.5)  # the roadmap's own creations delivered before the promise exists
    event = crm_event(promise("C-1", roadmap_item_key="RM-20", promised_by=None, tags=["sso"]))
    commitment_id = (await post_webhook(gateway, event)).json()["commitments"][0]["id"]
    assert (await commitment(gateway, commitment_id))["review_status"] == "cleared"

    changed = await gateway.patch(
        "/v1/roadmap/vision-tags/sso", json={"kind": "non_goal"}, headers=PM
    )

    assert changed.status_code == 200
    await eventually(
        lambda: commitment(gateway, commitment_id),
        lambda c: c["review_status"] == "needs_signoff",
    )


async def test_an_item_created_for_an_unknown_key_clears_the_promise(gateway):
    await roadmap_with_two_items(gateway)
    waiting = promise("C-1", roadmap_item_key="RM-77", promised_by="2027-12-01")
    answer = (await post_webhook(gateway, crm_event(waiting))).json()
    commitment_id = answer["commitments"][0]["id"]
    assert {c["code"] for c in (await commitment(gateway, commitment_id))["conflicts"]} == {
        "unknown_item"
    }

    item = {
        "key": "RM-77", "title": "Audit log", "status": "planned", "planned_end": "2027-06-01",
        "confidence": "high", "vision_tags": ["enterprise-security"],
    }  # fmt: skip
    assert (await gateway.post("/v1/roadmap/items", json=item, headers=PM)).status_code == 201

    cleared = await eventually(
        lambda: commitment(gateway, commitment_id), lambda c: c["review_status"] == "cleared"
    )
    assert cleared["conflicts"] == []


# Reports -----------------------------------------------------------------------------------


async def test_reports_count_what_the_webhook_brought(gateway):
    ids = await deal_with_three_promises(gateway)
    await gateway.post(
        f"/v1/commitments/{ids['C-1']}/decision", json={"decision": "approve"}, headers=PM
    )

    summary = (await gateway.get("/v1/reports/summary", headers=VIEWER)).json()
    conflicts = (await gateway.get("/v1/reports/conflicts", headers=VIEWER)).json()
    aging = (await gateway.get("/v1/reports/aging", headers=VIEWER)).json()

    by_status = {row["review_status"]: row["commitments"] for row in summary["by_status"]}
    assert by_status == {"approved": 1, "cleared": 1, "needs_signoff": 1}
    assert summary["revenue_at_risk"] == [{"currency": "USD", "deals": 1, "amount": "250000.00"}]
    assert {g["key"] for g in conflicts["by_code"]} >= {"date_before_plan", "custom_work"}
    assert aging["sla_hours"] == 48
    assert [item["commitment_id"] for item in aging["items"]] == [ids["C-3"]]


# The services failing ---------------------------------------------------------------------


async def test_readiness_names_each_service(stack, gateway):
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"commitments": "ok", "roadmap": "ok"}

    stack.roadmap_network.up = False
    not_ready = await gateway.get("/readyz")

    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["commitments"] == "ok"
    assert not_ready.json()["checks"]["roadmap"] != "ok"


async def test_a_service_down_is_503_with_retry_after_then_the_circuit_opens(stack, gateway):
    stack.roadmap_network.up = False

    answers = [await gateway.get("/v1/roadmap/items", headers=VIEWER) for _ in range(6)]

    assert {response.status_code for response in answers} == {503}
    assert all(int(response.headers["Retry-After"]) >= 1 for response in answers)
    assert "checked again shortly" in answers[-1].json()["detail"]


async def test_the_readiness_of_a_deal_answers_while_the_roadmap_is_down(stack, gateway):
    ids = await deal_with_three_promises(gateway)
    stack.roadmap_network.up = False

    gate = await readiness(gateway, ids["deal"])

    assert gate["ready"] is False


async def test_a_malformed_reply_from_a_service_is_a_502_problem():
    def nonsense(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": "not a list", "next_cursor": 3})

    app = create_app(
        gateway_settings(sweep_interval_seconds=0),
        transports={
            "commitments": httpx.MockTransport(nonsense),
            "roadmap": httpx.MockTransport(nonsense),
        },
    )
    async with running(app) as gateway:
        response = await gateway.get("/v1/deals", headers=VIEWER)
        search = await gateway.get("/v1/roadmap/items/search?q=x", headers=VIEWER)

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    assert search.status_code == 502


async def test_a_service_refusing_the_gateways_token_is_a_502_not_the_callers_401():
    def refuses(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"type": "x", "title": "Unauthorized", "status": 401})

    app = create_app(
        gateway_settings(sweep_interval_seconds=0),
        transports={"commitments": httpx.MockTransport(refuses)},
    )
    async with running(app) as gateway:
        response = await gateway.get("/v1/deals", headers=VIEWER)

    assert response.status_code == 502


async def test_one_refused_evaluation_does_not_hold_up_the_rest_of_its_batch(stack, gateway):
    await roadmap_with_two_items(gateway)
    service, refused = stack.commitments_network.inner, []

    async def refusing_the_fork(request: httpx.Request) -> httpx.Response | None:
        """Any batch of evaluations holding the custom work is refused (422)."""
        if request.url.path != "/work/evaluations":
            return None
        for item in json.loads(await request.aread())["items"]:
            path = f"/commitments/{item['commitment_id']}"
            read = await service.handle_async_request(
                httpx.Request("GET", request.url.copy_with(path=path), headers=request.headers)
            )
            await read.aread()
            if read.json()["summary"] == "A fork for Acme":
                refused.append(request)
                return httpx.Response(422, json={"type": "x", "title": "No", "status": 422})
        return None

    stack.commitments_network.inner = Intercepting(service, refusing_the_fork)

    answer = (await post_webhook(gateway, crm_event(*THREE_PROMISES))).json()

    assert len(refused) == 2  # the batch, then that one evaluation alone
    by_id = {c["external_id"]: c["review_status"] for c in answer["commitments"]}
    assert by_id == {"C-1": "needs_signoff", "C-2": "cleared", "C-3": "received"}
