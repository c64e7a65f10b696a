"""Apps as real processes (`python -m <module> serve`), as `make run` and containers run them."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP_PREFIXES = ("DEALGATE_", "ROADMAP_", "COMMITMENTS_")


def free_port() -> int:
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

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
