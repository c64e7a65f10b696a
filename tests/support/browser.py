"""Debian's Chromium driven by Playwright, for the review console's browser tests. No
browser is downloaded: `make test` installs Debian's package when it can. Under CI=true a
missing browser fails the test; elsewhere it skips with the reason."""

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# scripts/console_screenshots.py sets it: the screenshots are also written there.
SCREENSHOTS_VARIABLE = "CONSOLE_SCREENSHOTS_DIR"


def missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return (
            f"no browser at {CHROMIUM} (apt-get install -y chromium; `make test` does it as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (the dev extra of pyproject.toml)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    problem = missing_browser()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true runs the browser tests: {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Screenshots:
    """Full-page screenshots into the test's folder, and into SCREENSHOTS_VARIABLE's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.published = os.environ.get(SCREENSHOTS_VARIABLE)
        self.taken: list[Path] = []

    def take(self, page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.published:
            Path(self.published).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(self.published) / path.name)
        self.taken.append(path)
        return path
