"""`make run` and its kin as a person runs them: the real Makefile, from a folder of its own
(so no `.env` or `data/` of the checkout is read or touched), in a session of its own (a
terminal's Ctrl-C is SIGINT to the whole process group, and so is `interrupt()`)."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import APP_PREFIXES, free_port

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"
# The suite runs in a .venv already set up: make is told never to reinstall it from here.
VENV_STAMP = ROOT / ".venv" / ".installed"
# A make running the suite passes these on; they would make ours a sub-make that talks more.
MAKE_VARIABLES = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}


def make_command(target: str, *variables: str) -> list[str]:
    return ["make", "-f", str(MAKEFILE), "-o", str(VENV_STAMP), target, *variables]


def without_app_settings() -> dict[str, str]:
    """This environment without any app setting (nothing leaks in from the developer's
    shell) and without make's own variables."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(APP_PREFIXES) and key not in MAKE_VARIABLES
    }


def stack_ports() -> dict[str, str]:
    """Free ports for the three apps, none of them the defaults."""
    return {
        variable: str(free_port())
        for variable in ("DEALGATE_PORT", "COMMITMENTS_PORT", "ROADMAP_PORT")
    }


@contextlib.contextmanager
def ctrl_c_not_ignored() -> Iterator[None]:
    """A terminal's shell starts a command with Ctrl-C (SIGINT) at its default. The suite's
    own process may have it ignored (a shell without job control starts a background job so,
    e.g. `make test &`), and an ignored signal stays ignored across exec: make would then
    never stop on Ctrl-C. A handler of our own is reset to the default in the child."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class MakeRun:
    """One `make <target>` in the background; its console (stdout and stderr as one) in a
    file, read as it grows."""

    def __init__(
        self, workdir: Path, settings: dict[str, str], target: str = "run", *variables: str
    ) -> None:
        self.workdir, self.target = workdir, target
        self.output = workdir / f"make-{target}-{time.monotonic_ns()}.out"
        with self.output.open("w") as console, ctrl_c_not_ignored():
            self.process = subprocess.Popen(
                make_command(target, *variables),
                cwd=workdir,
                env={**without_app_settings(), **settings},
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def text(self) -> str:
        return self.output.read_text()

    def wait_for(self, text: str, seconds: float = 180) -> None:
        """Until the console shows `text`; fails if make ends first or it never comes."""
        deadline = time.monotonic() + seconds
        while text not in self.text:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"make {self.target} ended ({self.process.returncode}) before "
                    f"{text!r}:\n{self.text}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {seconds} s:\n{self.text}")
            time.sleep(0.2)

    def wait(self, seconds: float = 120) -> int:
        return self.process.wait(seconds)

    def interrupt(self, seconds: float = 60) -> int:
        """Ctrl-C, as a terminal sends it; answers make's exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(seconds)

    def group_is_empty(self) -> bool:
        """No process of this make's session is left."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def pids(self, command_fragment: str) -> list[int]:
        """The processes of this session whose command line holds `command_fragment`."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                session = os.getsid(int(entry.name))
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if session == self.process.pid and command_fragment in command:
                    found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """Whatever is left, at once: a test's last word."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
