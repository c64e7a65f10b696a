"""Calling the services: retries on idempotent calls only, a circuit breaker, quick 503s
instead of hangs, and malformed replies caught. Outbound HTTP is an httpx.MockTransport."""

import asyncio

import httpx
import pytest
from pydantic import BaseModel

from gateway.upstream import (
    CircuitBreaker,
    ServiceTransport,
    Upstream,
    UpstreamBroken,
    UpstreamUnavailable,
)
from tests.support.processes import free_port


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

    options.setdefault("breaker", CircuitBreaker(threshold=3, clock=FakeClock()))
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


async def test_a_service_that_times_out_is_not_asked_again_within_the_call():
    clock = FakeClock()
    script = Scripted(httpx.ReadTimeout("slow"))

    def half_a_second_then_timeout(request: httpx.Request) -> httpx.Response:
        clock.now += 0.5  # well within the budget: only the timeout itself stops a retry
        return script(request)

    client, _ = upstream(script, retries=2, clock=clock)
    client.client._transport = httpx.MockTransport(half_a_second_then_timeout)

    with pytest.raises(UpstreamUnavailable) as unavailable:
        await client.request("GET", "/items")

    assert len(script.calls) == 1
    assert unavailable.value.retry_after >= 1


async def test_quick_failures_are_retried_only_within_the_budget():
    clock = FakeClock()
    script = Scripted(503)

    def a_second_then_503(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0
        return script(request)

    client, _ = upstream(script, retries=5, clock=clock, retry_budget_seconds=2.0)
    client.client._transport = httpx.MockTransport(a_second_then_503)

    with pytest.raises(UpstreamUnavailable):
        await client.request("GET", "/items")

    assert len(script.calls) == 2  # a third would start past the 2 s budget


async def test_quick_failures_are_retried():
    script = Scripted(httpx.ConnectError("refused"))
    client, pauses = upstream(script, retries=2, clock=FakeClock())

    with pytest.raises(UpstreamUnavailable):
        await client.request("GET", "/items")

    assert len(script.calls) == 3
    assert pauses == [0.1, 0.2]


@pytest.mark.parametrize("status", [200, 404, 409, 422, 500])
async def test_the_services_own_answers_pass_through_unretried(status):
    script = Scripted(status)
    client, _ = upstream(script)

    response = await client.request("GET", "/items/RM-1")

    assert response.status_code == status
    assert len(script.calls) == 1


def open_breaker(clock: FakeClock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(threshold=threshold, probe_interval=0.5, clock=clock)


async def test_the_breaker_opens_after_repeated_failures_and_then_fails_fast():
    clock = FakeClock()
    script = Scripted(503)
    client, _ = upstream(script, retries=0, breaker=open_breaker(clock))

    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")
    calls = len(script.calls)
    clock.now += 0.4
    with pytest.raises(UpstreamUnavailable) as fast:
        await client.request("GET", "/items")

    assert calls == 3
    assert len(script.calls) == calls  # not even tried: no probe is due yet
    assert fast.value.retry_after == 1


async def test_an_open_circuit_probes_readiness_once_per_interval():
    clock = FakeClock()
    script = Scripted(503, 503, 503, 503)  # the service still failing, probes included
    client, _ = upstream(script, retries=0, breaker=open_breaker(clock))
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")

    clock.now += 0.5
    for _ in range(5):  # a burst: one probe, the rest refused at once
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")
    clock.now += 0.5
    with pytest.raises(UpstreamUnavailable):
        await client.request("GET", "/items")

    probes = [call.url.path for call in script.calls[3:]]
    assert probes == ["/readyz", "/readyz"]


async def test_the_first_probe_that_answers_closes_the_circuit_and_its_call_goes_on():
    clock = FakeClock()
    script = Scripted(503, 503, 503, 200)
    client, _ = upstream(script, retries=0, breaker=open_breaker(clock))
    recovered: list[str] = []
    client.on_recovered.append(lambda: recovered.append("roadmap"))
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            await client.request("GET", "/items")

    clock.now += 0.5
    response = await client.request("GET", "/items/RM-1")

    assert response.status_code == 200
    assert [call.url.path for call in script.calls[3:]] == ["/readyz", "/items/RM-1"]
    assert recovered == ["roadmap"]
    assert not client.breaker.is_open
    assert (await client.request("GET", "/items")).status_code == 200
    assert recovered == ["roadmap"]  # told once, when it came back


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


async def test_a_probe_cut_short_by_its_callers_timeout_does_not_jam_the_circuit():
    clock = FakeClock()
    hang = asyncio.Event()

    async def slow_then_fine(request: httpx.Request) -> httpx.Response:
        if not hang.is_set():
            await asyncio.sleep(60)  # the service is still slow at the probe
        return httpx.Response(200, json={})

    breaker = open_breaker(clock, threshold=1)
    client = Upstream(
        "roadmap", "http://roadmap", "t" * 16, retries=0, breaker=breaker,
        transport=httpx.MockTransport(slow_then_fine),
    )  # fmt: skip
    breaker.record_failure()  # open
    clock.now += 1

    with pytest.raises(TimeoutError):  # e.g. /readyz's own 2 s limit on its check
        await asyncio.wait_for(client.request("GET", "/items"), 0.05)
    hang.set()
    clock.now += 1

    assert (await client.request("GET", "/items")).status_code == 200


async def test_a_reply_that_cannot_be_decoded_is_a_failure_not_a_crash():
    def undecodable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"\x00not gzip", headers={"Content-Encoding": "gzip"})

    client, _ = upstream(Scripted(200), retries=0)
    client.client._transport = httpx.MockTransport(undecodable)

    with pytest.raises(UpstreamUnavailable):
        await client.request("GET", "/items")


async def _server(on_connection) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _call_through_service_transport(port: int) -> BaseException:
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=httpx.Timeout(0.3, connect=0.3),
        transport=ServiceTransport(),
    )
    try:
        await client.get("/readyz")
    except httpx.HTTPError as error:
        return error
    finally:
        await client.aclose()
    raise AssertionError("the call did not fail")


async def test_the_service_transport_tells_a_lost_connection_from_a_timeout():
    """Upstream retries a connection that failed (refused, cut off) and never one that timed
    out; the aiohttp transport must report them as httpx does."""

    async def hang(reader, writer) -> None:
        await asyncio.sleep(5)
        writer.close()

    async def hang_up(reader, writer) -> None:
        await reader.read(100)
        writer.close()

    hanging, hanging_port = await _server(hang)
    hanging_up, hanging_up_port = await _server(hang_up)
    refused_port = free_port()
    try:
        timed_out = await _call_through_service_transport(hanging_port)
        cut_off = await _call_through_service_transport(hanging_up_port)
        refused = await _call_through_service_transport(refused_port)
    finally:
        for server in (hanging, hanging_up):
            server.close()

    assert isinstance(timed_out, httpx.TimeoutException), repr(timed_out)
    assert isinstance(cut_off, httpx.TransportError), repr(cut_off)
    assert not isinstance(cut_off, httpx.TimeoutException), repr(cut_off)
    assert isinstance(refused, httpx.ConnectError), repr(refused)
