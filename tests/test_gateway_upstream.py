"""Calling the services: retries on idempotent calls only, a circuit breaker, quick 503s
instead of hangs, and malformed replies caught. Outbound HTTP is an httpx.MockTransport."""

import asyncio

import httpx
import pytest
from pydantic import BaseModel

from gateway.upstream import CircuitBreaker, Upstream, UpstreamBroken, UpstreamUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """A transport answering from a script of statuses (or exceptions), counting calls."""

    def __init__(self, *script) -> None:
        self.script, self.calls = list(script), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, json={"ok": step < 400})


def upstream(script: Scripted, **options) -> tuple[Upstream, list[float]]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    options.setdefault("breaker", CircuitBreaker(threshold=3, reset_seconds=10, clock=FakeClock()))
    client = Upstream(
        "roadmap", "http://roadmap", "token-0123456789abcdef",
        transport=httpx.MockTransport(script), sleep=sleep, **options,
    )  # fmt: skip
    return client, pauses


async def test_an_idempotent_call_is_retried_with_backoff_then_succeeds():
    script = Scripted(503, httpx.ConnectError("refused"), 200)
    client, pauses = upstream(script)

    response = await client.request("GET", "/items/RM-1")

    assert response.status_code == 200
    assert len(script.calls) == 3
    assert pauses == [0.1, 0.2]
    assert script.calls[0].headers["authorization"] == "Bearer token-0123456789abcdef"


async def test_a_non_idempotent_call_is_never_retried():
    script = Scripted(503, 200)
    client, _ = upstream(script)

    with pytest.raises(UpstreamUnavailable):
        await client.request("POST", "/work/claims", json={})

    assert len(script.calls) == 1


async def test_retries_are_bounded_and_a_timeout_is_a_quick_503():
    script = Scripted(httpx.ReadTimeout("slow"))
    client, _ = upstream(script, retries=2)

    with pytest.raises(UpstreamUnavailable) as unavailable:
        await client.request("GET", "/items")

    assert len(script.calls) == 3
    assert unavailable.value.retry_after >= 1


@pytest.mark.parametrize("status", [200, 404, 409, 422, 500])
async def test_the_services_own_answers_pass_through_unretried(status):
    script = Scripted(status)
    client, _ = upstream(script)

    response = await client.request("GET", "/items/RM-1")

    assert response.status_code == status
    assert len(script.calls) == 1


async def test_the_breaker_opens_after_repeated_failures_and_then_fails_fast():
    clock = FakeClock()
    script = Scripted(503)
    client, _ = upstream(script, retries=0, breaker=CircuitBreaker(3, 10, clock))

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")
    calls = len(script.calls)
    clock.now += 4
    with pytest.raises(UpstreamUnavailable) as fast:
        await client.request("GET", "/items")

    assert len(script.calls) == calls  # not even tried
    assert fast.value.retry_after == pytest.approx(6)


async def test_after_the_pause_one_trial_decides_whether_it_closes_again():
    clock = FakeClock()
    script = Scripted(503, 503, 503, 503, 200)
    client, _ = upstream(script, retries=0, breaker=CircuitBreaker(3, 10, clock))
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")

    clock.now += 11
    with pytest.raises(UpstreamUnavailable):  # the trial fails: open again
        await client.request("GET", "/items")
    clock.now += 5
    with pytest.raises(UpstreamUnavailable):  # still pausing, not tried
        await client.request("GET", "/items")
    clock.now += 6
    response = await client.request("GET", "/items")  # the next trial succeeds: closed

    assert response.status_code == 200
    assert len(script.calls) == 5
    assert (await client.request("GET", "/items")).status_code == 200


class Item(BaseModel):
    key: str
    version: int


async def test_a_malformed_reply_is_caught_not_crashed_on():
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"key": "RM-1", "version": "three"}')

    client = Upstream("roadmap", "http://roadmap", "t" * 16, transport=httpx.MockTransport(reply))
    response = await client.request("GET", "/items/RM-1")

    with pytest.raises(UpstreamBroken):
        client.parse(response, Item)
    with pytest.raises(UpstreamBroken):
        client.parse(httpx.Response(200, content=b"<html>proxy error</html>"), Item)
    assert client.parse(httpx.Response(200, json={"key": "RM-1", "version": 3}), Item).version == 3


async def test_a_trial_cut_short_by_its_callers_timeout_does_not_jam_the_circuit():
    clock = FakeClock()
    hang = asyncio.Event()

    async def slow_then_fine(request: httpx.Request) -> httpx.Response:
        if not hang.is_set():
            await asyncio.sleep(60)  # the service is still slow at the trial
        return httpx.Response(200, json={})

    breaker = CircuitBreaker(1, 10, clock)
    client = Upstream(
        "roadmap", "http://roadmap", "t" * 16, retries=0, breaker=breaker,
        transport=httpx.MockTransport(slow_then_fine),
    )  # fmt: skip
    breaker.record_failure()  # open
    clock.now += 11

    with pytest.raises(TimeoutError):  # e.g. /readyz's own 2 s limit on its check
        await asyncio.wait_for(client.request("GET", "/readyz"), 0.05)
    hang.set()
    clock.now += 11

    assert (await client.request("GET", "/items")).status_code == 200


async def test_a_reply_that_cannot_be_decoded_is_a_failure_not_a_crash():
    def undecodable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"\x00not gzip", headers={"Content-Encoding": "gzip"})

    client, _ = upstream(Scripted(200), retries=0)
    client.client._transport = httpx.MockTransport(undecodable)

    with pytest.raises(UpstreamUnavailable):
        await client.request("GET", "/items")
