"""The change log is pushed to the subscriber at least once, in order, by one sender at a time."""

import asyncio
import json
import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from kit import background
from kit.backoff import backoff_seconds
from kit.db import create_engine, utcnow
from services.roadmap.app import create_app
from services.roadmap.delivery import ChangeSender
from services.roadmap.tables import delivery_cursors
from tests.conftest import SERVICE_TOKEN, roadmap_settings
from tests.roadmap_helpers import create_item, create_tags
from tests.support.clients import running

SUBSCRIBER = "http://gateway.test/internal/roadmap-changes"


class Subscriber:
    """A fake gateway: records what it is sent; fails while told to."""

    def __init__(self, failures: list[int | Exception] | None = None, delay: float = 0) -> None:
        self.received: list[list[int]] = []
        self.authorizations: list[str] = []
        self.failures = list(failures or [])
        self.delay = delay

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure)
        self.received.append([change["id"] for change in json.loads(request.content)["changes"]])
        self.authorizations.append(request.headers["authorization"])
        return httpx.Response(204)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def delivered(self) -> list[int]:
        return [change for batch in self.received for change in batch]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[int]:
        """What was delivered once `count` changes arrived, or when `seconds` ran out."""
        for _ in range(int(seconds / 0.02)):
            if len(self.delivered()) >= count:
                break
            await asyncio.sleep(0.02)
        return self.delivered()


@pytest.fixture
async def engine(roadmap_db_url):
    engine = create_engine(roadmap_db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def five_changes(roadmap):
    await create_tags(roadmap)  # changes 1, 2
    await create_item(roadmap, "RM-1")  # 3
    await create_item(roadmap, "RM-2")  # 4
    await roadmap.patch("/items/RM-1", json={"status": "shipped"})  # 5


def sender(engine, subscriber: Subscriber, batch_size: int = 2) -> ChangeSender:
    return ChangeSender(
        engine,
        subscriber.client(),
        subscriber_url=SUBSCRIBER,
        service_token=SERVICE_TOKEN,
        batch_size=batch_size,
        max_backoff_seconds=30,
    )


async def test_changes_go_out_in_order_in_batches_with_the_service_token(engine, five_changes):
    subscriber = Subscriber()
    worker = sender(engine, subscriber)

    sent = [await worker.send_once() for _ in range(4)]

    assert sent == [2, 2, 1, 0]
    assert subscriber.received == [[1, 2], [3, 4], [5]]
    assert set(subscriber.authorizations) == {f"Bearer {SERVICE_TOKEN}"}


@pytest.mark.parametrize("failure", [503, httpx.ConnectError("refused")])
async def test_a_failed_send_backs_off_then_resends_the_same_batch(engine, five_changes, failure):
    subscriber = Subscriber(failures=[failure])
    worker = sender(engine, subscriber)

    assert await worker.send_once() == 0
    assert await worker.send_once() == 0  # still backing off: the subscriber is not called
    async with engine.begin() as connection:
        row = (await connection.execute(select(delivery_cursors))).one()
        assert (row.attempts, row.last_delivered_id) == (1, 0)
        assert row.next_attempt_at > utcnow()
        assert row.last_error
        await connection.execute(
            delivery_cursors.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )

    assert await worker.send_once() == 2
    assert subscriber.received == [[1, 2]]
    async with engine.connect() as connection:
        row = (await connection.execute(select(delivery_cursors))).one()
    assert (row.attempts, row.last_delivered_id, row.next_attempt_at) == (0, 2, None)


async def test_concurrent_senders_never_send_a_change_twice(engine, five_changes):
    subscriber = Subscriber(delay=0.05)
    workers = [sender(engine, subscriber) for _ in range(4)]

    for _ in range(4):
        await asyncio.gather(*(worker.send_once() for worker in workers))

    assert subscriber.delivered() == [1, 2, 3, 4, 5]


async def test_the_loop_keeps_sending_what_is_written_later(engine, roadmap, five_changes):
    subscriber = Subscriber()
    # Stopped as the app stops it: a cancel swallowed mid-query is cancelled again, where a
    # bare cancel() left the task running and the event loop's close waiting forever.
    async with background.running(sender(engine, subscriber, batch_size=100).run(0.02)):
        await create_item(roadmap, "RM-3")
        assert await subscriber.wait_for(6) == [1, 2, 3, 4, 5, 6]


def test_backoff_doubles_with_jitter_up_to_the_cap():
    assert 0.4 <= backoff_seconds(1, 60, first=0.5) <= 0.6
    assert 3.2 <= backoff_seconds(4, 60, first=0.5) <= 4.8
    assert 48 <= backoff_seconds(30, 60, first=0.5) <= 72
    assert 0.8 <= backoff_seconds(1, 60) <= 1.2


async def test_the_app_pushes_its_writes_to_the_configured_subscriber(roadmap_db_url):
    subscriber = Subscriber()
    settings = roadmap_settings(
        roadmap_db_url, subscriber_url=SUBSCRIBER, delivery_poll_seconds=0.02
    )
    app = create_app(settings, http_transport=httpx.MockTransport(subscriber.handle))
    async with running(app, SERVICE_TOKEN) as client:
        await create_tags(client)
        await create_item(client, "RM-1")
        assert await subscriber.wait_for(3) == [1, 2, 3]


async def _claim_as_another_sender(engine, until) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            delivery_cursors.update().values(claim_token="another-sender", claimed_until=until)
        )


async def test_a_live_claim_keeps_other_senders_out(engine, five_changes):
    subscriber = Subscriber()
    worker = sender(engine, subscriber)
    assert await worker.send_once() == 2
    await _claim_as_another_sender(engine, utcnow() + timedelta(minutes=1))

    assert await worker.send_once() == 0
    assert subscriber.received == [[1, 2]]


async def test_a_lapsed_claim_is_taken_over_and_the_batch_sent_again(engine, five_changes):
    subscriber = Subscriber()
    worker = sender(engine, subscriber)
    assert await worker.send_once() == 2
    await _claim_as_another_sender(engine, utcnow() - timedelta(seconds=1))  # it died

    assert await worker.send_once() == 2
    assert subscriber.received == [[1, 2], [3, 4]]


async def test_a_sender_that_lost_its_claim_does_not_move_the_cursor(engine, five_changes):
    subscriber = Subscriber()
    worker = sender(engine, subscriber)
    original_post = worker.client.post

    async def post_then_lose_the_claim(*args, **kwargs):
        response = await original_post(*args, **kwargs)
        await _claim_as_another_sender(engine, utcnow() + timedelta(minutes=1))
        return response

    worker.client.post = post_then_lose_the_claim

    await worker.send_once()

    async with engine.connect() as connection:
        row = (await connection.execute(select(delivery_cursors))).one()
    assert (row.last_delivered_id, row.claim_token) == (0, "another-sender")


async def test_an_idle_sender_only_reads(engine, five_changes):
    subscriber = Subscriber()
    worker = sender(engine, subscriber, batch_size=100)
    assert await worker.send_once() == 5
    async with engine.connect() as connection:
        before = (await connection.execute(select(delivery_cursors))).one()

    assert await worker.send_once() == 0

    async with engine.connect() as connection:
        after = (await connection.execute(select(delivery_cursors))).one()
    assert after == before


async def _retry_now(engine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            delivery_cursors.update().values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


@pytest.mark.parametrize(
    ("failure", "answered_before", "grace_seconds", "level"),
    [
        (httpx.ConnectError("refused"), False, 30, logging.INFO),
        (httpx.ConnectError("refused"), False, 0, logging.WARNING),
        (httpx.ConnectError("refused"), True, 30, logging.WARNING),
        (503, False, 30, logging.WARNING),
    ],
    ids=["not-up-yet", "still-not-up-past-the-grace", "was-up-then-gone", "up-and-failing"],
)
async def test_a_subscriber_still_starting_is_no_warning(
    engine, five_changes, caplog, failure, answered_before, grace_seconds, level
):
    subscriber = Subscriber()
    worker = ChangeSender(
        engine,
        subscriber.client(),
        subscriber_url=SUBSCRIBER,
        service_token=SERVICE_TOKEN,
        batch_size=2,
        startup_grace_seconds=grace_seconds,
    )
    if answered_before:
        assert await worker.send_once() == 2
    subscriber.failures = [failure]
    caplog.set_level(logging.INFO, logger="roadmap.delivery")

    assert await worker.send_once() == 0

    [record] = [r for r in caplog.records if r.name == "roadmap.delivery"]
    assert record.levelno == level
    await _retry_now(engine)
    assert await worker.send_once() == 2  # and the batch still goes out once it is up
