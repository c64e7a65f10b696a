"""Writes the review console's screenshots (laptop 1366x768 and phone 390x844) to
docs/console/, as the browser test takes them: the three apps, the local OpenID provider,
seed data with flagged promises, Debian's Chromium. Run it after changing the console:

    .venv/bin/python scripts/console_screenshots.py [--to docs/console]
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = (
    "tests/test_console_browser.py::"
    "test_a_pm_signs_in_approves_a_flagged_promise_and_the_deal_turns_ready[sqlite]"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args(argv)
    environment = {**os.environ, "CONSOLE_SCREENSHOTS_DIR": str(args.to.resolve())}
    # CI=true: a missing browser fails here rather than skipping without a word.
    environment["CI"] = "true"
    command = [sys.executable, "-m", "pytest", TEST, "-n", "0", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=ROOT, env=environment, check=False)
    if done.returncode == 0:
        for shot in sorted(args.to.glob("*.png")):
            print(shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
