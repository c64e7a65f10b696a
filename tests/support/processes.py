"""Apps as real processes (`python -m <module> serve`), as `make run` and containers run them."""

import contextlib
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import SERVICE_TOKEN
from tests.gateway_helpers import JWT_SECRET, WEBHOOK_SECRET

APP_PREFIXES = ("DEALGATE_", "ROADMAP_", "COMMITMENTS_")


# The suite runs in several pytest-xdist workers at once. A port from bind(0) is free only
# until the app binds it, and another worker's bind(0), or any outgoing connection, can be
# handed it in between. So each worker (up to PORT_SLICES of them) takes its ports from a
# slice of its own, below the kernel's ephemeral range (which bind(0) and outgoing
# connections draw from), each port checked free as it is handed out.
PORT_SLICES, PORT_SLICE_SIZE = 12, 800
_next_port: Iterator[int] | None = None


def _port_candidates() -> Iterator[int]:
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low = ephemeral_low - PORT_SLICES * PORT_SLICE_SIZE
    if low < 1024:  # an unusual kernel setting: fall back to the kernel's choice
        return iter(())
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    # Another run at once on this machine (another checkout's) most likely uses other slices,
    # and starts elsewhere in a slice it shares.
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    run = zlib.crc32(run_id.encode()) if run_id else secrets.randbelow(PORT_SLICES)
    first = low + (run + worker) % PORT_SLICES * PORT_SLICE_SIZE
    ports = range(first, first + PORT_SLICE_SIZE)
    start = secrets.randbelow(PORT_SLICE_SIZE)
    return itertools.cycle([*ports[start:], *ports[:start]])


def free_port() -> int:
    """A port nothing listens on now, and that no other worker of this run hands out."""
    global _next_port
    if _next_port is None:
        _next_port = _port_candidates()
    for port in itertools.islice(_next_port, PORT_SLICE_SIZE):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """One app process; `start()` returns once /healthz answers, `stop()` ends it."""

    def __init__(self, module: str, port: int, environment: dict[str, str], workdir: Path):
        self.module, self.port, self.workdir = module, port, workdir
        # Only what the test says: no app setting leaks in from the developer's shell.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(APP_PREFIXES)}
        self.environment = {**inherited, **environment}
        self.process: subprocess.Popen | None = None
        self.log = workdir / f"{module}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, seconds: float = 30) -> "Served":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve"],
                cwd=self.workdir,  # so no .env of the checkout is read
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.module} did not come up:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """Dies at once (SIGKILL), as a crash or an OOM kill would end it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Stops answering while its socket still accepts connections (SIGSTOP)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()  # a paused process cannot act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def three_apps(
    commitments_db_url: str, roadmap_db_url: str, workdir: Path, **gateway_environment: str
) -> Iterator[dict[str, Served]]:
    """The stack as `make run` starts it, on free ports and the given databases, the
    roadmap pushing its changes to the gateway; `gateway_environment` adds DEALGATE_*."""
    ports = {name: free_port() for name in ("gateway", "commitments", "roadmap")}
    commitments = Served(
        "services.commitments",
        ports["commitments"],
        {
            "COMMITMENTS_PORT": str(ports["commitments"]),
            "COMMITMENTS_DATABASE_URL": commitments_db_url,
            "COMMITMENTS_SERVICE_TOKEN": SERVICE_TOKEN,
        },
        workdir,
    )
    roadmap = Served(
        "services.roadmap",
        ports["roadmap"],
        {
            "ROADMAP_PORT": str(ports["roadmap"]),
            "ROADMAP_DATABASE_URL": roadmap_db_url,
            "ROADMAP_SERVICE_TOKEN": SERVICE_TOKEN,
            "ROADMAP_SUBSCRIBER_URL": (
                f"http://127.0.0.1:{ports['gateway']}/internal/roadmap-changes"
            ),
            "ROADMAP_DELIVERY_POLL_SECONDS": "0.1",
            "ROADMAP_DELIVERY_MAX_BACKOFF_SECONDS": "1",
        },
        workdir,
    )
    gateway = Served(
        "gateway",
        ports["gateway"],
        {
            "DEALGATE_PORT": str(ports["gateway"]),
            "DEALGATE_COMMITMENTS_URL": f"http://127.0.0.1:{ports['commitments']}",
            "DEALGATE_ROADMAP_URL": f"http://127.0.0.1:{ports['roadmap']}",
            "DEALGATE_SERVICE_TOKEN": SERVICE_TOKEN,
            "DEALGATE_JWT_SECRET": JWT_SECRET,
            "DEALGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DEALGATE_SWEEP_INTERVAL_SECONDS": "0.3",
            "DEALGATE_UPSTREAM_PROBE_INTERVAL_SECONDS": "0.2",
            **gateway_environment,
        },
        workdir,
    )
    started: list[Served] = []
    try:
        for app in (commitments, roadmap, gateway):
            started.append(app.start())
        yield {"gateway": gateway, "commitments": commitments, "roadmap": roadmap}
    finally:
        for app in reversed(started):
            app.stop()
