"""A load generator that costs little CPU: requests are built (and signed) before the clock
starts, sent as raw HTTP/1.1 bytes over keep-alive connections, and read back by status
line and Content-Length only. Each of `concurrency` connections sends its next request as
soon as the previous one is answered (a closed loop, as wrk does)."""

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


def raw_request(
    method: str, path: str, *, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_request(method: str, path: str, *, host: str, headers: dict, payload) -> bytes:
    body = json.dumps(payload).encode()
    return raw_request(
        method, path, host=host, headers={**headers, "Content-Type": "application/json"}, body=body
    )


@dataclass
class Load:
    """What one run measured: every answer's latency, by status."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)  # kept only when asked for

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    @property
    def failures(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 400)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked answers are not read by this generator")
    body = await reader.readexactly(length) if length else b""
    return status, body


async def drive(
    host: str,
    port: int,
    requests: Iterable[bytes],
    *,
    concurrency: int = 16,
    seconds: float = 10.0,
    keep_bodies: bool = False,
) -> Load:
    """Sends `requests` (each at most once, in order) on `concurrency` connections until
    they run out or `seconds` pass."""
    source: Iterator[bytes] = iter(requests)
    load = Load()
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in source:
                began = time.perf_counter()
                writer.write(request)
                status, body = await _read_answer(reader)
                load.latencies.append(time.perf_counter() - began)
                load.statuses[status] += 1
                if keep_bodies:
                    load.bodies.append(body)
                if time.perf_counter() >= deadline:
                    return
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - began
    return load


def cycle(requests: list[bytes]) -> Iterator[bytes]:
    return itertools.cycle(requests)
