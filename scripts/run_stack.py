"""`make run`: every app that exists, migrated, seeded with demo data, served; Ctrl-C stops all.

Each app runs as its own process (`python -m <module> serve`), with the settings it reads
from the environment (or `.env`), so what runs here is what runs in a container.
"""

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

PYTHON = sys.executable


@dataclass(frozen=True)
class App:
    name: str
    module: str
    settings: str  # "module:Class"
    seeds: bool  # `seed` before it serves (its own database)
    seeds_when_all_serve: bool = False  # `seed` once every app serves (through the others)


APPS = [
    App("roadmap", "services.roadmap", "services.roadmap.settings:RoadmapSettings", seeds=True),
    App(
        "commitments",
        "services.commitments",
        "services.commitments.settings:CommitmentsSettings",
        seeds=False,
    ),
    App(
        "gateway",
        "gateway",
        "gateway.settings:GatewaySettings",
        seeds=False,
        seeds_when_all_serve=True,
    ),
]


def existing_apps() -> list[App]:
    """The apps that can run yet: a package still being built has no `__main__`."""

    def runnable(module: str) -> bool:
        try:
            return importlib.util.find_spec(f"{module}.__main__") is not None
        except ModuleNotFoundError:
            return False

    return [app for app in APPS if runnable(app.module)]


def load_settings(app: App):
    module, name = app.settings.split(":")
    return getattr(importlib.import_module(module), name)()


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _stop_like_ctrl_c(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    apps = existing_apps()
    for app in apps:
        if app.seeds:
            subprocess.run([PYTHON, "-m", app.module, "seed"], check=True)
    # The roadmap pushes its changes to the gateway, unless told otherwise (here or in .env).
    roadmap = next(app for app in APPS if app.name == "roadmap")
    if load_settings(roadmap).subscriber_url is None:
        os.environ["ROADMAP_SUBSCRIBER_URL"] = gateway_change_url()
    processes: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    try:
        for app in apps:
            settings = load_settings(app)
            process = subprocess.Popen([PYTHON, "-m", app.module, "serve"])
            processes.append(process)
            url = f"http://{settings.host}:{settings.port}"
            if not wait_healthy(f"{url}/healthz", process):
                print(f"{app.name} did not come up; stopping everything", file=sys.stderr)
                return 1
            print(f"\n  {app.name:<12} {url}   (OpenAPI: {url}/openapi.json)", flush=True)
            for name, value in settings.development_secrets().items():
                prefix = settings.model_config.get("env_prefix", "")
                print(f"  {'':<12} development secret {prefix}{name.upper()}={value}")
        for app in apps:
            if app.seeds_when_all_serve:
                print(f"\n  {app.name}: demo data", flush=True)
                subprocess.run([PYTHON, "-m", app.module, "seed"], check=True)
        print_tour(apps)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        print("an app stopped; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(processes)


def gateway_change_url() -> str:
    settings = load_settings(next(app for app in APPS if app.name == "gateway"))
    return f"http://{settings.host}:{settings.port}/internal/roadmap-changes"


def print_tour(apps: list[App]) -> None:
    gateway = next((app for app in apps if app.name == "gateway"), None)
    if gateway is None:
        return
    settings = load_settings(gateway)
    url = f"http://{settings.host}:{settings.port}"
    print(
        "\n  Try (README.md walks through it):\n"
        "    TOKEN=$(make -s token ROLE=pm SUB=ana@example.com)\n"
        '    curl -H "Authorization: Bearer $TOKEN" '
        f"'{url}/v1/commitments?review_status=needs_signoff'\n"
        "\n  Ctrl-C stops everything.\n",
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
