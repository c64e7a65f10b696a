"""`make run` as a newcomer meets it: the real command, from a folder of its own, on free
ports and the embedded SQLite default. A second run on taken ports says so in one line and
touches nothing; Ctrl-C stops everything and says so; an app that dies stops the stack with
a line naming it; the console is short and the JSON logs are in files; `make reset` starts
the demo afresh. The pieces the script is made of are tested without processes at the end."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import jwt
import pytest

from gateway import demo
from gateway.settings import GatewaySettings
from scripts import run_stack
from services.commitments.settings import CommitmentsSettings
from services.roadmap.settings import RoadmapSettings
from tests.support.make_run import MakeRun, stack_ports
from tests.support.processes import free_port

# One worker for the module: its module-scoped stacks (`serving`, `stopped`) then start once.
pytestmark = pytest.mark.xdist_group("make_run")

UP = "Ctrl-C stops everything"  # the console's last line once the stack serves
DEMO_DEALS = {
    "D-1001": "Acme expansion",
    "D-1002": "Globex private cloud",
    "D-1003": "Initech analytics",
    "D-1004": "Umbrella renewal",
}


def lines_before(text: str, marker: str) -> list[str]:
    head = text.split(marker, 1)[0]
    return [*head.splitlines(), marker]


def webhook_requests(workdir: Path) -> int:
    log = (workdir / "data" / "logs" / "gateway.log").read_text()
    return log.count('"path": "/v1/webhooks/generic"')


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    """One stack, up, for the tests that only look at it. Only the ports are set: the URLs
    the apps call one another on must follow them."""
    workdir = tmp_path_factory.mktemp("make-run")
    ports = stack_ports()
    stack = MakeRun(workdir, ports)
    try:
        stack.wait_for(UP)
        yield stack, ports
    finally:
        stack.kill()


def test_a_second_make_run_names_the_taken_port_and_touches_nothing(serving):
    first, ports = serving
    posted = webhook_requests(first.workdir)
    logs = {log.name: log.stat().st_size for log in (first.workdir / "data" / "logs").iterdir()}

    second = MakeRun(first.workdir, ports)
    status = second.wait(seconds=60)

    assert status != 0
    said = [line for line in second.text.splitlines() if not line.startswith("make: ***")]
    assert len(said) == 1, second.text
    assert ports["DEALGATE_PORT"] in said[0], said
    assert "(gateway, DEALGATE_PORT)" in said[0], said
    assert "already in use" in said[0], said
    assert "Traceback" not in second.text
    # The first stack is untouched: still serving, nothing posted to it, its logs whole.
    assert first.process.poll() is None
    assert webhook_requests(first.workdir) == posted
    for log in (first.workdir / "data" / "logs").iterdir():
        assert log.stat().st_size >= logs[log.name], log.name


def test_a_port_held_by_anything_else_is_named_alone(tmp_path):
    ports = stack_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(ports["COMMITMENTS_PORT"])))
        squatter.listen()

        refused = MakeRun(tmp_path, ports)
        status = refused.wait(seconds=60)

    [said] = [line for line in refused.text.splitlines() if not line.startswith("make: ***")]
    assert status != 0
    assert said.startswith(f"make run: port {ports['COMMITMENTS_PORT']} (commitments, ")
    assert "DEALGATE_PORT" not in said
    assert not (tmp_path / "data").exists()


def test_moved_ports_move_the_urls_that_call_them(serving):
    """Every port is off its default and no URL was set: the demo deals were taken by the
    commitments service and evaluated against the roadmap (so the gateway found both), and
    the roadmap pushes its changes to the gateway."""
    stack, _ = serving
    console = stack.text

    assert "cleared" in console
    assert "needs_signoff" in console
    assert "evaluation_pending" not in console
    gateway_log = (stack.workdir / "data" / "logs" / "gateway.log").read_text()
    assert '"path": "/internal/roadmap-changes", "status": 200' in gateway_log


def test_the_console_is_calm_and_the_logs_hold_the_json(serving):
    stack, ports = serving
    console = lines_before(stack.text, UP)

    assert len(console) <= 25, "\n".join(console)
    assert not [line for line in console if line.lstrip().startswith("{")]
    assert not [line for line in console if "warning" in line or "error" in line]
    for app, variable in [("roadmap", "ROADMAP_PORT"), ("gateway", "DEALGATE_PORT")]:
        [line] = [line for line in console if line.split()[:1] == [app]]
        assert f"http://127.0.0.1:{ports[variable]}" in line
    for external_id, name in DEMO_DEALS.items():
        [line] = [line for line in console if external_id in line]
        assert name in line
    for app in ("roadmap", "commitments", "gateway"):
        log = (stack.workdir / "data" / "logs" / f"{app}.log").read_text().splitlines()
        records = [json.loads(line) for line in log if line.startswith("{")]
        assert any(record["msg"] == "Application startup complete." for record in records)
        assert any(record["logger"] == "kit.access" for record in records)


def test_the_console_link_signs_in_a_demo_reviewer(serving):
    """The link carries its token in the fragment, which a browser keeps to itself; the
    token is a PM's and the gateway takes it."""
    stack, ports = serving
    [line] = [line for line in lines_before(stack.text, UP) if "/console/" in line]
    link = line.split(": ", 1)[1]
    gateway = f"http://127.0.0.1:{ports['DEALGATE_PORT']}"
    assert link.startswith(f"{gateway}/console/#token=")
    token = link.split("#token=", 1)[1]

    claims = jwt.decode(token, options={"verify_signature": False})
    with httpx.Client(base_url=gateway, timeout=10) as client:
        page = client.get("/console/")
        queue = client.get("/v1/reports/aging", headers={"Authorization": f"Bearer {token}"})

    assert (claims["sub"], sorted(claims["roles"])) == ("ana@example.com", ["pm", "viewer"])
    assert page.status_code == 200
    assert 'src="static/js/main.js"' in page.text
    assert queue.status_code == 200, queue.text
    assert queue.json()["awaiting"] >= 1  # Acme's SSO promise awaits her


def test_the_console_line_follows_the_sign_in_settings():
    development = GatewaySettings(_env_file=None)
    oidc = GatewaySettings(
        _env_file=None, oidc_issuer="https://idp.example", oidc_client_id="dealgate-console"
    )

    assert "#token=" in run_stack.console_line(development)
    assert run_stack.console_line(oidc) == (
        "Review console: http://127.0.0.1:8000/console/ (sign in through https://idp.example)"
    )


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A stack run up and stopped with Ctrl-C: its console, make's status, its folder."""
    workdir = tmp_path_factory.mktemp("ctrl-c")
    stack = MakeRun(workdir, stack_ports())
    try:
        stack.wait_for(UP)
        status = stack.interrupt()
        yield stack, status
    finally:
        stack.kill()


def test_ctrl_c_stops_the_stack_and_says_so(stopped):
    stack, status = stopped

    assert stack.text.rstrip().splitlines()[-1] == "stack stopped"
    # make, killed by the same SIGINT, re-raises it (the shell sees 130) and adds no line of
    # its own: its "*** Error" line would mean the script itself exited non-zero.
    assert status == -signal.SIGINT
    assert "make: ***" not in stack.text
    assert "Traceback" not in stack.text
    assert stack.group_is_empty()
    for app in ("roadmap", "commitments", "gateway"):  # each shut down in good order
        log = (stack.workdir / "data" / "logs" / f"{app}.log").read_text()
        last_lines = "\n".join(log.splitlines()[-15:])
        assert "Application shutdown complete." in log, f"{app} ended with:\n{last_lines}"


def test_make_reset_starts_again_from_fresh_demo_data(stopped):
    stack, _ = stopped
    notes = stack.workdir / "data" / "notes.txt"
    notes.write_text("mine")

    reset = MakeRun(stack.workdir, stack_ports(), "reset")
    try:
        reset.wait_for(UP)
        console = reset.text
        reset.interrupt()
    finally:
        reset.kill()

    assert "make reset: deleted data/roadmap.db" in console
    assert "data/commitments.db" in console
    assert "12 items (18 records created)" in console
    assert "posted before" not in console  # the demo deals arrived as new
    assert notes.read_text() == "mine"  # only the databases and the logs go


def test_an_app_that_stops_on_its_own_stops_the_stack(tmp_path):
    stack = MakeRun(tmp_path, stack_ports())
    try:
        stack.wait_for(UP)
        [gateway] = stack.pids("-m gateway serve")
        os.kill(gateway, signal.SIGKILL)
        status = stack.wait(seconds=60)
    finally:
        stack.kill()

    assert status != 0
    assert (
        "make run: gateway stopped on its own (killed by SIGKILL); its log: "
        "data/logs/gateway.log; stopping the others"
    ) in stack.text
    assert "stack stopped" not in stack.text
    assert stack.group_is_empty()


# The pieces, without processes.


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "instance": "another-stack"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_health_counts_only_the_process_this_run_started():
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    url = f"http://127.0.0.1:{server.server_port}/healthz"
    try:
        assert run_stack.answers_health(url, "another-stack")
        assert not run_stack.answers_health(url, "ours")
        assert not run_stack.wait_healthy(url, ours, seconds=1, instance="ours")
    finally:
        ours.kill()
        ours.wait()
        server.shutdown()
        server.server_close()


def settings_on(**ports: int) -> dict:
    return {
        "gateway": GatewaySettings(_env_file=None, port=ports.get("gateway", 8000)),
        "commitments": CommitmentsSettings(_env_file=None, port=ports.get("commitments", 8001)),
        "roadmap": RoadmapSettings(_env_file=None, port=ports.get("roadmap", 8002)),
    }


def test_the_urls_between_the_apps_follow_their_ports(monkeypatch):
    for variable in ("DEALGATE_COMMITMENTS_URL", "DEALGATE_ROADMAP_URL", "ROADMAP_SUBSCRIBER_URL"):
        monkeypatch.delenv(variable, raising=False)

    assert run_stack.followed_urls(settings_on(commitments=9001, gateway=9000)) == {
        "DEALGATE_COMMITMENTS_URL": "http://127.0.0.1:9001",
        "DEALGATE_ROADMAP_URL": "http://127.0.0.1:8002",
        "ROADMAP_SUBSCRIBER_URL": "http://127.0.0.1:9000/internal/roadmap-changes",
    }
    monkeypatch.setenv("DEALGATE_ROADMAP_URL", "http://roadmap.internal:80")  # set: it stays
    assert "DEALGATE_ROADMAP_URL" not in run_stack.followed_urls(settings_on())


def test_a_wildcard_host_is_called_on_loopback():
    assert GatewaySettings(_env_file=None, host="0.0.0.0").local_url() == "http://127.0.0.1:8000"
    assert GatewaySettings(_env_file=None, host="::").local_url() == "http://[::1]:8000"


def test_two_apps_on_one_port_is_a_settings_mistake():
    with pytest.raises(run_stack.StartupRefused) as refused:
        run_stack.check_ports(settings_on(commitments=8000))

    assert refused.value.lines == [
        "COMMITMENTS_PORT and DEALGATE_PORT are both 8000: give each app a port of its own"
    ]


class _Console(run_stack.Console):
    def __init__(self, verbose: bool) -> None:
        super().__init__(verbose)
        self.said: list[tuple[str, bool]] = []

    def say(self, line: str = "", *, error: bool = False) -> None:
        self.said.append((line, error))


ACCESS = json.dumps({"level": "info", "logger": "kit.access", "msg": "request", "status": 200})
WARNING = json.dumps(
    {"ts": "…", "level": "warning", "logger": "x", "msg": "change delivery failed", "attempts": 3}
)


def test_the_console_shows_warnings_and_errors_as_one_readable_line():
    console = _Console(verbose=False)

    for line in (ACCESS, WARNING, "services.roadmap: ROADMAP_PORT: …"):
        console.relay("roadmap", line, from_stderr=True)

    assert console.said == [
        ("  roadmap     warning: change delivery failed (attempts=3)", True),
        ("services.roadmap: ROADMAP_PORT: …", True),
    ]


def test_verbose_shows_every_line():
    console = _Console(verbose=True)

    console.relay("gateway", ACCESS, from_stderr=False)

    assert console.said == [("  gateway     info: request (status=200)", False)]


def test_a_ctrl_c_traceback_of_a_process_still_importing_is_not_shown():
    tracebacks = run_stack.InterruptTracebacks()
    interrupted = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1',
        "",
        "KeyboardInterrupt",
    ]
    crashed = ["Traceback (most recent call last):", '  File "y.py", line 2', "ValueError: boom"]

    shown = [line for line in [*interrupted, "plain", *crashed] for line in tracebacks.feed(line)]

    assert shown == ["plain", *crashed]


class _SlowTerminal:
    """A stream that yields to other threads between characters, as a busy terminal may."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, text: str) -> int:
        for character in text:
            self.written.append(character)
            time.sleep(0)
        return len(text)

    def flush(self) -> None:
        pass


def test_console_lines_from_many_threads_are_never_cut(monkeypatch):
    terminal = _SlowTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    console = run_stack.Console(verbose=False)

    def say(letter: str) -> None:
        for _ in range(5):
            console.say(letter * 40)

    threads = [threading.Thread(target=say, args=(letter,)) for letter in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = "".join(terminal.written).splitlines()
    assert sorted(lines) == sorted(letter * 40 for letter in "abcd" for _ in range(5))


def test_the_demo_summary_names_each_deal_and_what_its_promises_came_to():
    answers = [
        {
            "status": "duplicate" if index == 3 else "accepted",
            "deal_id": f"deal-{index}",
            "commitments": [
                {
                    "id": f"{index}-{n}",
                    "external_id": promise["external_id"],
                    "review_status": "needs_signoff" if index == 0 and n == 0 else "cleared",
                }
                for n, promise in enumerate(event["commitments"])
            ],
        }
        for index, event in enumerate(demo.DEMO_EVENTS)
    ]

    lines = demo.summary(answers)

    assert lines[0].split() == [
        *["D-1001", "Acme", "expansion", "not", "ready"],
        *["C-1", "needs_signoff,", "C-2", "cleared,", "C-3", "cleared"],
    ]
    assert lines[3].split()[:5] == ["D-1004", "Umbrella", "renewal", "ready", "to"]
    assert lines[3].endswith("(posted before)")
