"""`make run`: every app, migrated, seeded with demo data, served; Ctrl-C stops them all.

Each app runs as its own process (`python -m <module> serve`, which migrates its database
first) with the settings it reads from the environment (or `.env`), so what runs here is
what runs in a container. Once all three serve, the demo data goes in: the demo roadmap
(what `python -m services.roadmap seed` does), then four demo deals posted to the gateway's
webhook like a CRM (`python -m gateway seed`), done here rather than in two more Pythons.
What this script adds is what a developer's first minutes need:

- Nothing starts until every app's settings are read and every port is free: a mistake,
  or a second `make run`, ends in one plain line, with nothing started and no data touched.
- The URLs the apps call one another on follow the hosts and ports they serve on, unless
  set explicitly: moving one port moves its callers too.
- Each process it starts gets an instance id (DEALGATE_INSTANCE_ID) and only a /healthz
  answer carrying it counts, so another stack answering on a port is never taken for ours.
- A calm console: every line the apps write goes to data/logs/<app>.log (JSON); only
  warnings and errors reach the console, one readable line each (`--verbose`, i.e.
  `make run VERBOSE=1`, shows every line). All console writes share one lock, so no log
  line cuts another in half.
- Ctrl-C (or SIGTERM) stops the stack, says so and exits 0; an app that stops on its own
  stops the others and exits 1, naming the app and its log. A Ctrl-C also reaches the apps
  (one process group); one still importing dies with a KeyboardInterrupt traceback, which
  its log keeps and the console does not show.
- `--reset` (`make reset`) first deletes the embedded SQLite databases and the logs, so the
  demo starts afresh. It refuses a PostgreSQL database (drop and create it yourself: that
  is not a thing to do by a make target) and any database under DEALGATE_ENV=production.
"""

import signal
import sys

if __name__ == "__main__":
    # A Ctrl-C before main() takes over (the imports below take a second) stops quietly too.
    signal.signal(signal.SIGINT, lambda _signal, _frame: sys.exit(0))

import argparse
import asyncio
import errno
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from gateway import demo
from gateway.auth import local_token
from gateway.settings import GatewaySettings
from kit.settings import AppSettings, ServiceSettings
from kit.startup import (
    MISTAKE_EXIT_CODE,
    StartupRefused,
    command,
    reached_database,
    read_settings,
)
from services.commitments.demo import DEMO_REVIEWERS, seed_demo_reviewers
from services.commitments.settings import CommitmentsSettings
from services.roadmap.demo import DEMO_ITEMS, DEMO_TAGS, seed_demo_roadmap
from services.roadmap.settings import RoadmapSettings

PROG = "make run"
PYTHON = sys.executable
DATA = Path("data")  # beside the default SQLite files, relative to where `make run` runs
LOGS = DATA / "logs"
START_SECONDS = 60  # three Python processes importing at once on two cores
STOP_SECONDS = 10
CHANGES_PATH = "/internal/roadmap-changes"
SHOWN_LEVELS = {"warning", "error", "critical"}
# The fields every JSON log line carries, or that a console line does without.
QUIET_FIELDS = {"ts", "level", "logger", "msg", "color_message", "exc", "request_id"}
CONSOLE_LINE_LIMIT = 300


@dataclass(frozen=True)
class App:
    name: str
    module: str
    settings_class: type[AppSettings]


# Each `serve` migrates its own database first, so the three start side by side.
APPS = [
    App("roadmap", "services.roadmap", RoadmapSettings),
    App("commitments", "services.commitments", CommitmentsSettings),
    App("gateway", "gateway", GatewaySettings),
]

# Set by the first Ctrl-C or SIGTERM, or when the stack stops for another reason: from then
# on a signal interrupts nothing.
STOPPING = threading.Event()


class Console:
    """The one way to the terminal: whole lines, one writer at a time."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.lock = threading.Lock()

    def say(self, line: str = "", *, error: bool = False) -> None:
        with self.lock:
            print(line, file=sys.stderr if error else sys.stdout, flush=True)

    def relay(self, app: str, line: str, *, from_stderr: bool) -> None:
        """An app's output line: JSON log lines by level, anything else (a one-line refusal,
        a crash) as it is, on the stream it came by."""
        if STOPPING.is_set():  # the apps' farewells stay in their logs
            return
        record = _json_record(line)
        if record is None:
            self.say(line, error=from_stderr)
            return
        shown = str(record.get("level")).lower() in SHOWN_LEVELS
        if shown or self.verbose:
            self.say(human(app, record), error=shown)


def _json_record(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "level" in record else None


def human(app: str, record: dict) -> str:
    """A JSON log line as one readable line: the app, the level, the message and its fields
    (the exception's last line, not its traceback: that stays in the log file)."""
    fields = ", ".join(f"{k}={v}" for k, v in record.items() if k not in QUIET_FIELDS)
    line = f"  {app:<12}{record.get('level', '')}: {record.get('msg', '')}"
    if fields:
        line += f" ({fields})"
    if record.get("exc"):
        line += " - " + str(record["exc"]).strip().splitlines()[-1]
    if len(line) > CONSOLE_LINE_LIMIT:
        line = line[: CONSOLE_LINE_LIMIT - 1] + "…"
    return line


class Process:
    """One child process: every line it writes goes to its app's log file and, as the
    console decides, to the console."""

    def __init__(self, app: App, arguments: list[str], env: dict[str, str], log: "Log"):
        self.app = app
        self.popen = subprocess.Popen(
            [PYTHON, "-m", app.module, *arguments],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self.log = log
        self.readers: list[threading.Thread] = []

    def relay_output(self, console: Console) -> None:
        def read(stream: IO[str], from_stderr: bool) -> None:
            tracebacks = InterruptTracebacks()
            for raw in stream:
                line = raw.rstrip("\n")
                self.log.write(line)
                for shown in tracebacks.feed(line) if from_stderr else [line]:
                    console.relay(self.app.name, shown, from_stderr=from_stderr)
            for shown in tracebacks.rest():
                console.relay(self.app.name, shown, from_stderr=from_stderr)

        for stream, from_stderr in ((self.popen.stdout, False), (self.popen.stderr, True)):
            reader = threading.Thread(target=read, args=(stream, from_stderr), daemon=True)
            reader.start()
            self.readers.append(reader)

    def finish_output(self, seconds: float = 5) -> None:
        """Waits for the last lines of a process that has ended."""
        for reader in self.readers:
            reader.join(seconds)


class InterruptTracebacks:
    """Holds a traceback back until its last line: one that ends in KeyboardInterrupt is a
    Ctrl-C reaching a process still importing, not news (its log keeps it all the same)."""

    def __init__(self) -> None:
        self.block: list[str] | None = None

    def feed(self, line: str) -> list[str]:
        """The lines to show now."""
        if self.block is None:
            if line.startswith("Traceback (most recent call last):"):
                self.block = [line]
                return []
            return [line]
        self.block.append(line)
        if line.startswith(" ") or not line.strip():  # frames, source, carets, spacing
            return []
        block, self.block = self.block, None
        return [] if line.startswith("KeyboardInterrupt") else block

    def rest(self) -> list[str]:
        block, self.block = self.block or [], None
        return block


class Log:
    """An app's log file for this run, written whole lines at a time by its readers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("w")
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        with self.lock:
            if not self.file.closed:
                self.file.write(line + "\n")
                self.file.flush()

    def close(self) -> None:
        with self.lock:
            self.file.close()


# --- what the stack is made of ---------------------------------------------------------


def read_all_settings() -> dict[str, AppSettings]:
    """Every app's settings, or StartupRefused with every mistake of every app."""
    found: dict[str, AppSettings] = {}
    mistakes: list[str] = []
    for app in APPS:
        try:
            found[app.name] = read_settings(app.settings_class)
        except StartupRefused as refused:
            mistakes += refused.lines
    if mistakes:  # a setting every app reads (DEALGATE_ENV) is one mistake, said once
        raise StartupRefused(list(dict.fromkeys(mistakes)))
    return found


def followed_urls(settings: dict[str, AppSettings]) -> dict[str, str]:
    """The URLs the apps call one another on, where the user did not set them: they follow
    the hosts and ports this run serves on (one moved port moves its callers too)."""
    gateway, roadmap = settings["gateway"], settings["roadmap"]
    urls = {}
    for service in ("commitments", "roadmap"):
        field = f"{service}_url"
        if field not in gateway.model_fields_set:
            urls[GatewaySettings.env_name(field)] = settings[service].local_url()
    if "subscriber_url" not in roadmap.model_fields_set:
        urls[RoadmapSettings.env_name("subscriber_url")] = gateway.local_url() + CHANGES_PATH
    return urls


# --- ports -----------------------------------------------------------------------------


def _addresses(host: str, port: int) -> list[tuple]:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return list(dict.fromkeys((family, address) for family, _, _, _, address in infos))


def port_error(host: str, port: int) -> OSError | None:
    """Why an app could not listen on host:port now, or None. Binds as uvicorn does (every
    address the host names, SO_REUSEADDR, so a port a stopped run left in TIME_WAIT is free)."""
    probes = []
    try:
        for family, address in _addresses(host, port):
            probe = socket.socket(family, socket.SOCK_STREAM)
            probes.append(probe)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)
            probe.listen()
    except OSError as error:
        return error
    finally:
        for probe in probes:
            probe.close()
    return None


def check_ports(settings: dict[str, AppSettings]) -> None:
    """Raises StartupRefused (a settings mistake) for two apps on one port, PortsTaken (one
    line) when a port is not free."""
    by_port: dict[int, list[str]] = {}
    for app in APPS:
        by_port.setdefault(settings[app.name].port, []).append(app.name)
    shared = {port: names for port, names in by_port.items() if len(names) > 1}
    if shared:
        raise StartupRefused(
            [
                f"{_and([_port_variable(settings, n) for n in names])} are "
                f"{'both' if len(names) == 2 else 'all'} {port}: give each app a port of its own"
                for port, names in shared.items()
            ]
        )
    taken, other = [], []
    for app in sorted(APPS, key=lambda app: settings[app.name].port):
        app_settings = settings[app.name]
        error = port_error(app_settings.host, app_settings.port)
        if error is None:
            continue
        variable = _port_variable(settings, app.name)
        if error.errno == errno.EADDRINUSE:
            taken.append((app_settings.port, app.name, variable))
        else:
            reason = error.strerror or str(error)
            host_variable = type(app_settings).env_name("host")
            other.append(
                f"{app.name} cannot listen on {app_settings.host}:{app_settings.port} "
                f"({host_variable}, {variable}): {reason}"
            )
    if taken:
        ports = _and([f"{port} ({name}, {variable})" for port, name, variable in taken])
        variables = _and([variable for _, _, variable in taken])
        several = len(taken) > 1
        other.insert(
            0,
            f"port{'s' if several else ''} {ports} {'are' if several else 'is'} "
            f"already in use — is another 'make run' running? Stop it, or set {variables} "
            f"to {'free ports' if several else 'a free port'}.",
        )
    if other:
        raise PortsTaken(other)


class PortsTaken(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _port_variable(settings: dict[str, AppSettings], name: str) -> str:
    return type(settings[name]).env_name("port")


def _and(items: list[str]) -> str:
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- make reset ------------------------------------------------------------------------


def reset(settings: dict[str, AppSettings]) -> str:
    """Deletes the embedded databases (with their WAL, shared-memory and lock files) and the
    logs, and says what it deleted; refuses, before deleting anything, a database that is
    not an embedded file."""
    if any(s.environment == "production" for s in settings.values()):
        raise StartupRefused(
            ["DEALGATE_ENV=production: make reset deletes databases, so it refuses to run"]
        )
    databases: list[Path] = []
    refusals: list[str] = []
    for app in APPS:
        app_settings = settings[app.name]
        if not isinstance(app_settings, ServiceSettings):
            continue
        url = make_url(app_settings.database_url)
        variable = type(app_settings).env_name("database_url")
        if url.get_backend_name() != "sqlite":
            refusals.append(
                f"{variable} is a {url.get_backend_name()} database ({url.host}/{url.database}):"
                f" make reset only deletes embedded SQLite files. Drop and create it "
                f"yourself (dropdb, createdb), then run make run."
            )
        elif url.database and url.database != ":memory:":
            databases.append(Path(url.database))
    if refusals:
        raise StartupRefused(refusals)
    beside = ("-wal", "-shm", ".migration-lock")
    files = [Path(f"{db}{suffix}") for db in databases for suffix in beside]
    logs = sorted(LOGS.glob("*.log"))
    deleted = [str(db) for db in databases if db.exists()] + (["the logs"] if logs else [])
    for path in [*databases, *files, *logs]:
        path.unlink(missing_ok=True)
    return f"deleted {_and(deleted)}" if deleted else "nothing to delete"


# --- running ---------------------------------------------------------------------------


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers_health(url: str, instance: str | None) -> bool:
    try:
        with _NO_PROXY.open(url, timeout=1) as response:
            if response.status != 200:
                return False
            return instance is None or json.loads(response.read()).get("instance") == instance
    except (OSError, ValueError):
        return False


def wait_healthy(
    url: str, process: subprocess.Popen, seconds: float = 30, instance: str | None = None
) -> bool:
    """True once `url` answers 200 (carrying `instance`, when given) while `process` lives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if answers_health(url, instance):
            return process.poll() is None
        time.sleep(0.2)
    return False


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Stack:
    def __init__(self, settings: dict[str, AppSettings], console: Console) -> None:
        self.settings = settings
        self.console = console
        self.environment = {**os.environ, "PYTHONUNBUFFERED": "1", **followed_urls(settings)}
        self.instances = {app.name: uuid.uuid4().hex for app in APPS}
        self.processes: list[Process] = []
        self.serving: dict[str, Process] = {}
        LOGS.mkdir(parents=True, exist_ok=True)
        self.logs = {app.name: Log(LOGS / f"{app.name}.log") for app in APPS}

    def start(self, app: App, *arguments: str) -> Process:
        env = {**self.environment, "DEALGATE_INSTANCE_ID": self.instances[app.name]}
        process = Process(app, list(arguments), env, self.logs[app.name])
        self.processes.append(process)
        process.relay_output(self.console)
        return process

    def serve_all(self) -> int:
        """Starts every app side by side; 0 once each answers as the process this run
        started. Else waits until the others have answered or stopped too, so every app's
        refusal is said (one line each), and answers the exit code to leave with."""
        serving = {app.name: self.start(app, "serve") for app in APPS}
        waiting, stopped = set(serving), []
        deadline = time.monotonic() + START_SECONDS
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                process = serving[name]
                if process.popen.poll() is not None:
                    waiting.discard(name)
                    stopped.append(process)
                elif answers_health(
                    self.settings[name].local_url() + "/healthz", self.instances[name]
                ):
                    waiting.discard(name)
            time.sleep(0.2)
        codes = [self.stopped_on_its_own(process, "while starting") for process in stopped]
        for name in sorted(waiting):
            self.console.say(
                f"{PROG}: {name} did not answer on {self.settings[name].local_url()} "
                f"within {START_SECONDS} s; its log: {self.logs[name].path}",
                error=True,
            )
            codes.append(1)
        self.serving = serving
        return max(codes, default=0)

    def stopped_on_its_own(self, process: Process, when: str) -> int:
        """Says which app stopped and where its log is (unless it said what to fix itself,
        exit code 2); answers the exit code to leave with."""
        process.finish_output()
        code = process.popen.returncode
        if code == MISTAKE_EXIT_CODE:
            return code
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        self.console.say(
            f"{PROG}: {process.app.name} stopped {when} ({how}); its log: {process.log.path}; "
            "stopping the others",
            error=True,
        )
        return 1

    def watch(self) -> int:
        """Until an app stops on its own (a Ctrl-C ends this by KeyboardInterrupt)."""
        while True:
            dead = [p for p in self.serving.values() if p.popen.poll() is not None]
            if dead:
                # A Ctrl-C reaches the apps and this process alike; give it time to land.
                time.sleep(1)
                return self.stopped_on_its_own(dead[0], "on its own")
            time.sleep(0.5)

    def stop(self) -> None:
        STOPPING.set()  # from here on a Ctrl-C interrupts nothing
        stop([process.popen for process in self.processes])
        for process in self.processes:
            process.finish_output()
        for log in self.logs.values():
            log.close()


def demo_data(settings: dict[str, AppSettings]) -> list[str]:
    """What `python -m services.roadmap seed` and then `python -m gateway seed` do, here
    rather than in two more Pythons: the demo roadmap (what is missing of it), then the demo
    deals posted through the gateway. A failure is one line; the apps serve on."""
    roadmap, gateway = settings["roadmap"], settings["gateway"]
    assert isinstance(roadmap, RoadmapSettings)
    assert isinstance(gateway, GatewaySettings)
    try:
        created = asyncio.run(_seed_roadmap(roadmap))
    except Exception as error:
        return [f"{PROG}: the demo roadmap could not be seeded ({type(error).__name__}: {error})"]
    seeded = f"{created} records created" if created else "already there"
    commitments = settings["commitments"]
    assert isinstance(commitments, CommitmentsSettings)
    try:
        added = asyncio.run(_seed_reviewers(commitments))
    except Exception as error:
        return [f"{PROG}: the demo reviewers could not be seeded ({type(error).__name__}: {error})"]
    try:
        deals = demo.post_and_summarize(gateway.local_url(), gateway.webhook_secret)
    except SystemExit as failed:
        deals = [str(failed.code)]
    pillars = sum(tag.kind == "pillar" for tag in DEMO_TAGS)
    roadmap_line = (
        f"Demo roadmap: {pillars} pillars, {len(DEMO_TAGS) - pillars} non-goals, "
        f"{len(DEMO_ITEMS)} items ({seeded})."
    )
    reviewers_line = (
        "Demo reviewers: "
        + "; ".join(f"{email} decides {', '.join(entry.areas)}"
                    for email, entry in DEMO_REVIEWERS.items())
        + f" ({f'{added} added' if added else 'already there'})."
    )  # fmt: skip
    return [roadmap_line, reviewers_line, *deals]


async def _seed_reviewers(settings: CommitmentsSettings) -> int:
    async with reached_database(settings.database_url, settings.env_name("database_url")) as db:
        return await seed_demo_reviewers(db)


async def _seed_roadmap(settings: RoadmapSettings) -> int:
    async with reached_database(settings.database_url, settings.env_name("database_url")) as db:
        return await seed_demo_roadmap(db)


def banner(settings: dict[str, AppSettings]) -> list[str]:
    """One line per app, then the development secrets (one line per value)."""
    lines = []
    for app in APPS:
        url = settings[app.name].local_url()
        docs = f"{url}/docs" if app.name == "gateway" else f"{url}/openapi.json (service token)"
        lines.append(f"  {app.name:<12}{url:<24} {docs}")
    secrets: dict[str, list[str]] = {}
    for app in APPS:
        app_settings = settings[app.name]
        for field, value in app_settings.development_secrets().items():
            secrets.setdefault(value, []).append(type(app_settings).env_name(field))
    if secrets:
        lines.append("Development secrets (DEALGATE_ENV=development; never use them elsewhere):")
        lines += [f"  {' = '.join(names)} = {value}" for value, names in secrets.items()]
    return lines


# Who the console's sign-in link signs in: a demo reviewer (services/commitments/demo.py),
# so the queue's promises are theirs to decide.
CONSOLE_PERSON, CONSOLE_ROLES, CONSOLE_HOURS = "ana@example.com", ["pm", "viewer"], 12


def console_line(gateway: GatewaySettings) -> str:
    """The review console's address; in development a link that signs in, the token in the
    fragment (a browser never sends it, so no server logs it)."""
    url = f"{gateway.local_url()}/console/"
    if gateway.oidc_issuer:
        return f"Review console: {url} (sign in through {gateway.oidc_issuer})"
    try:
        token = local_token(gateway, CONSOLE_PERSON, CONSOLE_ROLES, CONSOLE_HOURS)
    except SystemExit:  # RS256: the keys live with the identity provider
        return f"Review console: {url} (sign in with a token from your identity provider)"
    return (
        f"Review console, signed in as {CONSOLE_PERSON} ({', '.join(CONSOLE_ROLES)}) for "
        f"{CONSOLE_HOURS} hours: {url}#token={token}"
    )


def tour(settings: dict[str, AppSettings]) -> list[str]:
    gateway = settings["gateway"]
    assert isinstance(gateway, GatewaySettings)
    url = gateway.local_url()
    return [
        console_line(gateway),
        "Try it (README.md walks through the whole tour):",
        "  TOKEN=$(make -s token ROLE=pm SUB=ana@example.com)",
        f'  curl -H "Authorization: Bearer $TOKEN" '
        f"'{url}/v1/commitments?review_status=needs_signoff'",
        "Watch the events live, in another terminal: .venv/bin/python -m gateway listen",
        "Ctrl-C stops everything; `make reset` starts again from fresh demo data.",
    ]


def _on_stop_signal(_signal: int, _frame: object) -> None:
    if STOPPING.is_set():
        return  # already stopping
    STOPPING.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_stack", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="every log line on the console")
    parser.add_argument("--reset", action="store_true", help="fresh databases and demo data")
    args = parser.parse_args(argv)
    console = Console(verbose=args.verbose)
    prog = "make reset" if args.reset else PROG
    with command(prog):
        settings = read_all_settings()
        try:
            check_ports(settings)
        except PortsTaken as taken:
            for line in taken.lines:
                console.say(f"{prog}: {line}", error=True)
            return 1
        if args.reset:
            console.say(f"{prog}: {reset(settings)}")
    # From here on a stop stops what has started: the first Ctrl-C or SIGTERM lands as
    # KeyboardInterrupt, the stack stops, and the script exits 0.
    signal.signal(signal.SIGINT, _on_stop_signal)
    signal.signal(signal.SIGTERM, _on_stop_signal)
    stack: Stack | None = None
    try:
        stack = Stack(settings, console)
        code: int | None = run(stack, settings, console)
    except KeyboardInterrupt:
        code = None  # asked to stop
    finally:
        STOPPING.set()
        if stack is not None:
            stack.stop()
    if code is None:
        console.say("stack stopped")
        return 0
    return code


def run(stack: Stack, settings: dict[str, AppSettings], console: Console) -> int:
    shown = "shown here too" if console.verbose else "make run VERBOSE=1 shows them here too"
    names = _and([app.name for app in APPS])
    console.say(f"Starting the {names} apps; their logs go to {LOGS}/ ({shown}).")
    code = stack.serve_all()
    if code:
        return code
    for line in banner(settings):
        console.say(line)
    for line in demo_data(settings):
        console.say(line)
    for line in tour(settings):
        console.say(line)
    return stack.watch()


if __name__ == "__main__":
    sys.exit(main())
