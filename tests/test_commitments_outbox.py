"""Events out, in the commitments service: which changes write which events (the outbox),
and their delivery to webhook subscribers, verified as a receiver verifies them."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from kit.contracts.commitments import EvaluationBatch, RecheckRequest, ReviewStatus
from kit.contracts.events import EventType
from kit.db import create_engine, utcnow
from services.commitments import reviews, work
from services.commitments.app import create_app
from services.commitments.tables import deals, webhook_subscriptions
from tests.commitments_helpers import (
    claim_one,
    conflict,
    crm_event,
    decide,
    evaluate,
    evaluated,
    item_changed,
    promise,
    slip,
    take,
)
from tests.conftest import SERVICE_TOKEN, commitments_settings
from tests.outbound_helpers import RECEIVER_URL, Receiver, drain, subscribe
from tests.support.clients import running

S, E = ReviewStatus, EventType


# What the changes write ----------------------------------------------------------------


async def test_a_deal_through_its_review_tells_each_step_in_order(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver)
    answer = await take(client, crm_event(promise("C-1"), promise("C-2")))
    first, second = (c["id"] for c in answer["commitments"])
    await evaluated(client, first)
    await evaluated(client, second, slip("2027-04-01"))
    response = await decide(client, second, comment="Pilot only")
    assert response.status_code == 200
    await drain(app)

    assert receiver.types() == [
        "deal.gate_changed",  # first known: not ready
        "commitment.cleared",
        "commitment.flagged",
        "commitment.approved",
        "deal.gate_changed",  # ready
    ]
    known, cleared, flagged, approved, ready = receiver.events
    assert known["data"]["readiness"]["ready"] is False
    assert known["data"]["previous_ready"] is None
    assert {b["commitment_id"] for b in known["data"]["readiness"]["blocking"]} == {first, second}
    assert cleared["data"]["commitment"]["id"] == first
    assert flagged["data"]["commitment"]["conflicts"][0]["code"] == "date_before_plan"
    assert flagged["data"]["commitment"]["conflicts"][0]["evidence"]["planned_end"] == "2027-04-01"
    assert flagged["data"]["deal"]["amount"] == "250000.00"
    assert flagged["data"]["gate"] == {"ready": False, "blocking_count": 1}
    assert approved["data"]["decision"]["comment"] == "Pilot only"
    assert approved["data"]["decision"]["decided_by"] == "ana@example.com"
    assert approved["data"]["gate"] == {"ready": True, "blocking_count": 0}
    assert ready["data"] == {
        **ready["data"],
        "previous_ready": False,
        "readiness": {"deal_id": answer["deal_id"], "ready": True, "blocking": []},
    }
    assert all(event["id"].startswith("evt_") for event in receiver.events)
    assert len({event["id"] for event in receiver.events}) == 5


async def test_a_slip_reopens_the_approval_with_the_roadmap_change_as_its_reason(outbound):
    app, client, receiver = outbound
    answer = await take(client, crm_event())
    commitment_id = answer["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))
    assert (await decide(client, commitment_id)).status_code == 200
    await subscribe(client, receiver, "commitment.reopened", "deal.gate_changed")

    await client.post("/work/rechecks", json={"changes": [item_changed("RM-12", 7)]})
    claim = (await client.post("/work/claims", json={"commitment_ids": [commitment_id]})).json()
    response = await evaluate(client, commitment_id, slip("2027-05-01"), claim=claim["items"][0])
    assert response.status_code == 200
    await drain(app)

    assert receiver.types() == ["commitment.reopened", "deal.gate_changed"]
    reason = receiver.events[0]["data"]["reason"]
    assert "date_before_plan on RM-12" in reason["summary"]
    assert "2027-05-01" in reason["summary"]
    assert reason["cause"]["kind"] == "roadmap_changed"
    assert reason["cause"]["changes"] == [{"entity": "roadmap_item", "key": "RM-12", "version": 7}]
    assert receiver.events[1]["data"]["readiness"]["ready"] is False


async def test_a_crm_change_that_reopens_names_the_crm_event(outbound):
    app, client, receiver = outbound
    commitment_id = (await take(client, crm_event()))["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))
    await decide(client, commitment_id)
    await subscribe(client, receiver, "commitment.reopened")
    # The rep promises it a month earlier: the approval does not cover that.
    await take(client, crm_event(promise(promised_by="2027-02-01"), updated=1), "crm-evt-2")
    await evaluated(client, commitment_id, slip("2027-04-01", promised_by="2027-02-01"))
    await drain(app)

    (reopened,) = receiver.events
    assert reopened["data"]["reason"]["cause"] == {
        "kind": "crm_changed",
        "source": "generic",
        "event_id": "crm-evt-2",
        "changes": [],
        "roadmap_item_key": None,
    }


async def test_nothing_is_told_twice(outbound):
    """A duplicate CRM event, a re-evaluation finding the same, a repeated decision and a
    CRM re-send of what was approved write no event."""
    app, client, receiver = outbound
    await subscribe(client, receiver)
    event = crm_event()
    commitment_id = (await take(client, event, "once"))["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))
    await decide(client, commitment_id)
    await drain(app)
    told = receiver.types()
    assert told == ["deal.gate_changed", "commitment.flagged", "commitment.approved",
                    "deal.gate_changed"]  # fmt: skip

    await take(client, event, "once")
    await evaluated(client, commitment_id, slip("2027-04-01"))
    await decide(client, commitment_id)
    # Sent again by the CRM with a new event id: received, then approved again as covered.
    await take(client, crm_event(updated=2), "again")
    await evaluated(client, commitment_id, slip("2027-04-01"))
    await drain(app)
    assert receiver.types() == told


async def test_withdrawn_and_rejected_and_a_breach_are_told(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver)
    answer = await take(client, crm_event(promise("C-1"), promise("C-2")))
    first, second = (c["id"] for c in answer["commitments"])
    await evaluated(client, first, conflict("custom_work", item=None))
    assert (await decide(client, first, "reject", comment="We do not fork.")).status_code == 200
    await take(client, crm_event(promise("C-1"), updated=1))  # C-2 is no longer promised
    await take(client, crm_event(promise("C-1"), updated=2, stage="closed_won"))
    await drain(app)

    assert receiver.types() == [
        "deal.gate_changed",
        "commitment.flagged",
        "commitment.rejected",
        "commitment.withdrawn",
        "deal.breach_recorded",
    ]
    rejected, withdrawn, breach = receiver.events[2:]
    assert rejected["data"]["decision"]["comment"] == "We do not fork."
    assert withdrawn["data"]["commitment"]["id"] == second
    assert breach["data"]["breach"]["kind"] == "closed_without_signoff"
    assert [b["commitment_id"] for b in breach["data"]["breach"]["blocking"]] == [first]


# Delivery --------------------------------------------------------------------------------


async def test_a_subscriber_down_and_back_gets_every_event_once_in_order(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver)
    receiver.up = False
    deals = []
    for number in range(3):
        answer = await take(client, crm_event(deal=f"D-{number}"))
        deals.append(answer["deal_id"])
        await evaluated(client, answer["commitments"][0]["id"], slip("2027-04-01"))
    await drain(app)
    assert receiver.events == []
    engine = create_engine(app.state.settings.database_url)
    try:
        async with engine.begin() as connection:
            paused = (await connection.execute(select(webhook_subscriptions))).one()
            assert paused.failures == 1
            assert paused.retry_at > utcnow()
            # The pause is over.
            await connection.execute(update(webhook_subscriptions).values(retry_at=utcnow()))
    finally:
        await engine.dispose()

    receiver.up = True
    await drain(app)
    by_deal = {deal: [] for deal in deals}
    for event in receiver.events:
        by_deal[event["data"]["deal"]["id"]].append(event["type"])
    assert all(told == ["deal.gate_changed", "commitment.flagged"] for told in by_deal.values())
    assert len(receiver.events) == 6
    log = (await client.get(f"/webhook-subscriptions/{paused.id}/deliveries")).json()["items"]
    # The round while it was down: each deal's first event tried once, together.
    assert [item["outcome"] for item in log].count("failed") == 3
    assert [item["outcome"] for item in log].count("delivered") == 6
    failed = next(item for item in log if item["outcome"] == "failed")
    assert failed["status_code"] is None
    assert "ConnectError" in failed["error"]


async def test_a_subscriber_failing_for_the_whole_window_is_stopped_and_says_why(
    commitments_db_url,
):
    receiver = Receiver(answer=500)
    app = create_app(
        commitments_settings(
            commitments_db_url,
            dispatch_interval_seconds=0,
            webhook_failing_after_seconds=0.001,
            webhook_max_backoff_seconds=0.001,
        ),
        http_transport=receiver.transport,
    )
    async with running(app, SERVICE_TOKEN) as client:
        subscription = await subscribe(client, receiver)
        await take(client, crm_event())
        await app.state.dispatcher.dispatch_once()
        await app.state.dispatcher.dispatch_once()
        read = (await client.get(f"/webhook-subscriptions/{subscription['id']}")).json()
        assert read["status"] == "failing"
        assert "HTTP 500" in read["status_reason"]
        assert read["secret"] is None
        assert await app.state.dispatcher.dispatch_once() == 0  # stopped

        receiver.answer = 200
        enabled = await client.patch(
            f"/webhook-subscriptions/{subscription['id']}", json={"enabled": True}
        )
        assert enabled.json()["status"] == "active"
        await drain(app)
        assert receiver.types() == ["deal.gate_changed"]


async def test_a_rotated_secret_signs_beside_the_old_one_through_the_overlap(outbound):
    app, client, receiver = outbound
    subscription = await subscribe(client, receiver, "deal.gate_changed")
    rotated = await client.patch(
        f"/webhook-subscriptions/{subscription['id']}", json={"rotate_secret": True}
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != subscription["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    await take(client, crm_event())
    await drain(app)
    (delivery,) = receiver.deliveries
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    for secret in (subscription["secret"], new_secret):
        only = Receiver(secrets=[secret])
        only.handle(delivery)  # each secret alone verifies it


async def test_replay_sends_an_event_again_with_its_id(outbound):
    app, client, receiver = outbound
    subscription = await subscribe(client, receiver, "deal.gate_changed")
    await take(client, crm_event())
    await drain(app)
    (event,) = receiver.events
    url = f"/webhook-subscriptions/{subscription['id']}/replays"

    one = await client.post(url, json={"event_id": event["id"]})
    assert one.status_code == 202
    assert one.json() == {"queued": 1}
    since = (utcnow() - timedelta(hours=1)).isoformat()
    ranged = await client.post(url, json={"since": since})
    assert ranged.json() == {"queued": 0}  # the same event, owed once
    await drain(app)
    assert [d.headers["webhook-id"] for d in receiver.deliveries] == [event["id"]] * 2
    log = (await client.get(f"/webhook-subscriptions/{subscription['id']}/deliveries")).json()
    assert [item["replay"] for item in log["items"]] == [True, False]

    assert (await client.post(url, json={"event_id": "evt_nope"})).status_code == 404
    assert (await client.post(url, json={})).status_code == 422
    for far in (
        {"since": "0001-01-01T00:00:00+01:00"},
        {"since": since, "until": "9999-12-31T23:00:00-05:00"},
    ):
        assert (await client.post(url, json=far)).status_code == 422
    other = await subscribe(client, receiver, "commitment.flagged")
    wrong_type = await client.post(
        f"/webhook-subscriptions/{other['id']}/replays", json={"event_id": event["id"]}
    )
    assert wrong_type.status_code == 422


# Subscriptions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/x", "URL scheme"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "not a public"),
        ("http://user:pw@203.0.113.9/hook", "user name"),
        ("http://[64:ff9b::a00:1]/hook", "private address inside an IPv6"),  # NAT64
        ("http://[2002:a9fe:a9fe::]/hook", "link-local address inside an IPv6"),  # 6to4
        ("http://[fec0::1]/hook", "site-local"),
    ],
)
async def test_a_url_dealgate_may_not_send_to_is_refused_and_nothing_is_written(outbound, url, why):
    _, client, _ = outbound
    response = await client.post(
        "/webhook-subscriptions", json={"url": url, "event_types": ["deal.gate_changed"]}
    )
    assert response.status_code == 422, response.text
    assert why in response.text
    assert (await client.get("/webhook-subscriptions")).json()["items"] == []


async def test_loopback_is_for_development_only(commitments_db_url):
    settings = commitments_settings(
        commitments_db_url, environment="production", service_token=SERVICE_TOKEN + "-prod"
    )
    app = create_app(settings)
    async with running(app, SERVICE_TOKEN + "-prod") as client:
        body = {"url": RECEIVER_URL, "event_types": ["deal.gate_changed"]}
        refused = await client.post("/webhook-subscriptions", json=body)
        assert refused.status_code == 422
        assert "loopback" in refused.text


async def test_an_address_refused_at_send_time_fails_the_delivery_with_the_reason(
    outbound,
):
    app, client, receiver = outbound
    subscription = await subscribe(client, receiver, "deal.gate_changed")
    await take(client, crm_event())
    app.state.dispatcher.allowed_networks = []  # as if the name now resolved to loopback
    await app.state.dispatcher.dispatch_once()
    assert receiver.deliveries == []
    log = (await client.get(f"/webhook-subscriptions/{subscription['id']}/deliveries")).json()
    assert "loopback" in log["items"][0]["error"]


async def test_subscriptions_are_read_changed_and_deleted(outbound):
    app, client, receiver = outbound
    created = await subscribe(client, receiver, "deal.gate_changed", description="Desk")
    path = f"/webhook-subscriptions/{created['id']}"
    assert created["status"] == "active"
    assert created["description"] == "Desk"
    read = (await client.get(path)).json()
    assert read == {**created, "secret": None}

    changed = await client.patch(path, json={"event_types": ["commitment.flagged"]})
    assert changed.json()["event_types"] == ["commitment.flagged"]
    assert changed.json()["secret"] is None
    assert (await client.patch(path, json={"enabled": False})).json()["status"] == "disabled"
    await take(client, crm_event())
    assert await app.state.dispatcher.dispatch_once() == 0  # nothing queued while disabled

    duplicate_types = await client.patch(
        path, json={"event_types": ["commitment.flagged", "commitment.flagged"]}
    )
    assert duplicate_types.status_code == 422
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    assert (await client.delete(path)).status_code == 404


async def test_claims_follow_deal_order_and_skip_a_claimed_head(outbound):
    """Of one deal's deliveries only the earliest owed is claimed; the next waits for it."""
    app, client, receiver = outbound
    await subscribe(client, receiver)
    answer = await take(client, crm_event())
    await evaluated(client, answer["commitments"][0]["id"], slip("2027-04-01"))
    dispatcher = app.state.dispatcher
    token, claimed = await dispatcher._claim()
    assert [d.event_type for d in claimed] == ["deal.gate_changed"]
    _, second = await dispatcher._claim()
    assert second == []  # the head is claimed; its follower waits for it
    await dispatcher._send_round(token, claimed)
    await drain(app)
    assert receiver.types() == ["deal.gate_changed", "commitment.flagged"]


async def test_a_claim_lost_with_its_dispatcher_is_delivered_after_the_lease(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver)
    await take(client, crm_event())
    dispatcher = app.state.dispatcher
    _, claimed = await dispatcher._claim()  # then it dies: nothing sent, nothing recorded
    assert len(claimed) == 1
    assert await dispatcher.dispatch_once() == 0
    dispatcher.lease = timedelta(0)
    engine = create_engine(app.state.settings.database_url)
    try:
        from services.commitments.tables import webhook_deliveries

        async with engine.begin() as connection:
            await connection.execute(
                update(webhook_deliveries).values(claimed_until=utcnow() - timedelta(seconds=1))
            )
    finally:
        await engine.dispose()
    await drain(app)
    assert receiver.types() == ["deal.gate_changed"]


async def test_a_pending_evaluation_tells_nothing(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, *[t for t in EventType if t.startswith("commitment.")])
    commitment_id = (await take(client, crm_event()))["commitments"][0]["id"]
    claim = await claim_one(client, commitment_id)
    unreachable = await evaluate(client, commitment_id, claim=claim, outcome="roadmap_unreachable")
    assert unreachable.status_code == 200
    await drain(app)
    assert receiver.events == []


# Sign-off reminders and overdue ----------------------------------------------------------


async def _alerts(app, client, hours_from_now: float, limit: int = 500) -> int:
    app.state.clock = lambda: utcnow() + timedelta(hours=hours_from_now)
    response = await client.post(
        "/work/signoff-alerts",
        json={"sla_hours": 48, "reminder_fractions": [0.5, 0.9], "limit": limit},
    )
    assert response.status_code == 200, response.text
    return response.json()["sent"]


async def test_reminders_and_overdue_fire_once_each_at_their_time(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "signoff.reminder", "signoff.overdue")
    commitment_id = (await take(client, crm_event()))["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))

    assert await _alerts(app, client, 23) == 0
    assert await _alerts(app, client, 24.1) == 1
    assert await _alerts(app, client, 30) == 0
    assert await _alerts(app, client, 43.5) == 1
    assert await _alerts(app, client, 48.1) == 1
    assert await _alerts(app, client, 100) == 0
    await drain(app)
    assert receiver.types() == ["signoff.reminder", "signoff.reminder", "signoff.overdue"]
    first, second, overdue = (event["data"] for event in receiver.events)
    assert (first["fraction"], second["fraction"], overdue["fraction"]) == (0.5, 0.9, 1.0)
    assert overdue["sla_hours"] == 48
    assert overdue["commitment"]["id"] == commitment_id
    assert overdue["due_at"] > overdue["awaiting_since"]


async def test_a_new_evaluation_starts_the_reminders_afresh_and_a_decision_stops_them(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver, "signoff.reminder", "signoff.overdue")
    first = (await take(client, crm_event(deal="D-1")))["commitments"][0]["id"]
    second = (await take(client, crm_event(deal="D-2")))["commitments"][0]["id"]
    await evaluated(client, first, slip("2027-04-01"))
    await evaluated(client, second, slip("2027-04-01"))
    assert await _alerts(app, client, 60) == 2  # both overdue, told once
    await evaluated(client, first, slip("2027-05-01"))  # still awaiting, other conflicts
    assert (await decide(client, second)).status_code == 200
    assert await _alerts(app, client, 61) == 1
    await drain(app)
    told = [(e["type"], e["data"]["commitment"]["id"]) for e in receiver.events]
    assert sorted(told[:2]) == sorted([("signoff.overdue", first), ("signoff.overdue", second)])
    assert told[2:] == [("signoff.overdue", first)]


async def test_a_batch_of_evaluations_and_a_recheck_mark_never_deadlock(outbound):
    """Both lock deals by id, then commitments: two crossing orders would deadlock (a
    deal D1 < D2 whose commitment sorts after D2's)."""
    app, client, _ = outbound
    pairs = []
    for number in range(30):
        answer = await take(client, crm_event(promise(f"C-{number}"), deal=f"D-{number}"))
        pairs.append((answer["deal_id"], answer["commitments"][0]["id"]))
    first_deal, later, second_deal, earlier = next(
        (d1, c1, d2, c2) for d1, c1 in pairs for d2, c2 in pairs if d1 < d2 and c1 > c2
    )
    claimed = await client.post("/work/claims", json={"commitment_ids": [earlier, later]})
    claims = {item["id"]: item for item in claimed.json()["items"]}
    batch = EvaluationBatch.model_validate(
        {
            "items": [
                {
                    "commitment_id": cid,
                    "claim_token": claims[cid]["claim_token"],
                    "evaluated_version": claims[cid]["version"],
                    "work_generation": claims[cid]["work_generation"],
                }
                for cid in (earlier, later)
            ]
        }
    )
    engine = create_engine(app.state.settings.database_url)
    try:
        holder = await engine.connect()
        await holder.begin()
        # Holds the second deal: the batch takes the first deal and its commitment, then
        # waits here, while the mark comes in between.
        await holder.execute(
            update(deals).where(deals.c.id == second_deal).values(updated_at=deals.c.updated_at)
        )

        async def evaluations() -> None:
            async with engine.begin() as connection:
                await reviews.record_evaluations(connection, batch)

        async def mark() -> None:
            await asyncio.sleep(0.3)
            request = RecheckRequest.model_validate({"commitment_ids": [earlier, later]})
            async with engine.begin() as connection:
                await work.mark_rechecks(connection, request)

        running_both = asyncio.gather(evaluations(), mark())
        await asyncio.sleep(0.8)
        await holder.rollback()
        await holder.close()
        await asyncio.wait_for(running_both, 30)  # a deadlock would raise here
    finally:
        await engine.dispose()
    assert first_deal < second_deal


async def test_alerts_told_already_never_crowd_out_those_due(outbound):
    app, client, _ = outbound
    for number in range(3):
        commitment_id = (await take(client, crm_event(deal=f"D-{number}")))["commitments"][0]
        await evaluated(client, commitment_id["id"], slip("2027-04-01"))
    assert await _alerts(app, client, 25, limit=2) == 2
    assert await _alerts(app, client, 26, limit=2) == 1  # the third, though the limit is 2
    assert await _alerts(app, client, 27, limit=2) == 0


@pytest.mark.parametrize("answer", ["drips its body", "hangs"])
async def test_a_send_is_bounded_by_the_timeout_as_a_whole(commitments_db_url, answer):
    """httpx bounds each read, so a receiver answering a byte at a time could hold a send
    far past the timeout; the whole exchange is bounded instead, and a 2xx's body is not
    waited for."""

    async def receiver_that(request: httpx.Request) -> httpx.Response:
        async def body():
            for _ in range(20):
                await asyncio.sleep(0.1)
                yield b"x"

        if answer == "hangs":
            await asyncio.sleep(5)
        return httpx.Response(200, content=body())

    receiver = Receiver()
    app = create_app(
        commitments_settings(
            commitments_db_url, dispatch_interval_seconds=0, webhook_timeout_seconds=0.3
        ),
        http_transport=httpx.MockTransport(receiver_that),
    )
    async with running(app, SERVICE_TOKEN) as client:
        subscription = await subscribe(client, receiver, "deal.gate_changed")
        await take(client, crm_event())
        # A guard against a hang, not a speed figure.
        await asyncio.wait_for(app.state.dispatcher.dispatch_once(), 1.5)
        log = await client.get(f"/webhook-subscriptions/{subscription['id']}/deliveries")
        (attempt,) = log.json()["items"]
    if answer == "hangs":
        assert attempt["outcome"] == "failed"
        assert attempt["error"] == "no answer within 0.3 s"
    else:
        assert attempt["outcome"] == "delivered"


async def test_a_replayed_older_event_waits_for_the_delivery_in_flight_on_its_deal(outbound):
    app, client, receiver = outbound
    subscription = await subscribe(client, receiver)
    commitment_id = (await take(client, crm_event()))["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))
    await drain(app)
    first = receiver.events[0]
    assert (await decide(client, commitment_id)).status_code == 200  # approved, gate opens
    dispatcher = app.state.dispatcher
    token, in_flight = await dispatcher._claim()
    assert [d.event_type for d in in_flight] == ["commitment.approved"]
    replay = f"/webhook-subscriptions/{subscription['id']}/replays"
    assert (await client.post(replay, json={"event_id": first["id"]})).status_code == 202
    _, meanwhile = await dispatcher._claim()
    assert meanwhile == []  # not beside the delivery in flight, though it comes first
    await dispatcher._send_round(token, in_flight)
    await drain(app)
    assert receiver.types()[-2:] == ["commitment.approved", "deal.gate_changed"]
    replayed = [d.headers["webhook-id"] for d in receiver.deliveries].count(first["id"])
    assert replayed == 2


async def test_a_batch_of_evaluations_and_a_decision_on_one_deal_tell_the_gate_it_made(outbound):
    """A batch clears one of a deal's two flagged promises while a PM approves the other:
    whichever commits second must see the first, or neither tells the deal turned ready (the
    batch's lock on the deal makes the decision wait)."""
    app, client, receiver = outbound
    await subscribe(client, receiver, "deal.gate_changed")
    answer = await take(client, crm_event(promise("C-1"), promise("C-2")))
    first, second = (c["id"] for c in answer["commitments"])
    await evaluated(client, first, slip("2027-04-01"))
    await evaluated(client, second, slip("2027-04-01"))
    claim = await claim_one(client, second)
    batch = EvaluationBatch.model_validate(
        {
            "items": [
                {
                    "commitment_id": second,
                    "claim_token": claim["claim_token"],
                    "evaluated_version": claim["version"],
                    "work_generation": claim["work_generation"],
                }
            ]
        }
    )
    engine = create_engine(app.state.settings.database_url)
    try:
        async with engine.connect() as connection:
            await connection.begin()
            await reviews.record_evaluations(connection, batch)  # clears it, not committed
            deciding = asyncio.create_task(decide(client, first))
            await asyncio.sleep(0.5)
            await connection.commit()
        assert (await asyncio.wait_for(deciding, 30)).status_code == 200
    finally:
        await engine.dispose()
    await drain(app)
    told = [event["data"]["readiness"]["ready"] for event in receiver.events]
    assert told == [False, True]


async def test_a_question_its_answer_and_a_recall_are_told(outbound):
    app, client, receiver = outbound
    await subscribe(client, receiver)
    commitment_id = (await take(client, crm_event()))["commitments"][0]["id"]
    await evaluated(client, commitment_id, slip("2027-04-01"))
    said = {"author": "ana@example.com", "role": "pm"}
    thread = f"/commitments/{commitment_id}/comments"
    assert (await decide(client, commitment_id, by="ana@example.com")).status_code == 200
    recalled = await client.post(thread, json={"kind": "recall", "body": "Too soon.", **said})
    assert recalled.status_code == 200, recalled.text
    asked = await client.post(thread, json={"kind": "question", "body": "A pilot?", **said})
    assert asked.status_code == 200, asked.text
    answer = {"kind": "answer", "body": "Yes.", "author": "rep@example.com", "role": "crm"}
    assert (await client.post(thread, json=answer)).status_code == 200
    await drain(app)

    assert receiver.types() == [
        "deal.gate_changed",  # first known: not ready
        "commitment.flagged",
        "commitment.approved",
        "deal.gate_changed",  # ready
        "commitment.reopened",  # recalled
        "deal.gate_changed",  # not ready again
        "commitment.info_requested",
        "commitment.answered",
    ]
    reopened, asked_event, answered = (receiver.events[i]["data"] for i in (4, 6, 7))
    assert reopened["reason"]["summary"] == "ana@example.com recalled their decision: Too soon."
    assert reopened["reason"]["cause"]["kind"] == "recall"
    assert asked_event["comment"]["body"] == "A pilot?"
    assert asked_event["commitment"]["review_status"] == "info_requested"
    assert (answered["comment"]["author"], answered["comment"]["body"]) == (
        "rep@example.com",
        "Yes.",
    )
