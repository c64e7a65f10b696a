"""`make mutate`: mutation testing of the pure cores, read as a list of missing tests.

Runs mutmut afresh with pyproject's `[tool.mutmut]` (the conflict rules, the review
lifecycle with its transition table, the intake planner and the fingerprint, against their
pure tests), prints the killed and surviving counts and every survivor, and exits 1 when a
mutant survives that is not on EQUIVALENT below. A survivor is a change to the code that
no test notices: write the test that does; only if no input can tell the mutant from the
code, add it to EQUIVALENT with the reason.

Entries match a survivor by the function it mutates and the line it changes, not by
mutmut's number for it, which shifts whenever the module changes. An entry that matches
nothing any more is reported, so the list stays short and true.

    python scripts/mutate.py               # a fresh run (mutants/ is rebuilt), then the report
    python scripts/mutate.py --report-only # the report of the last run in mutants/
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
# What mutmut counts as the tests noticing the mutant.
CAUGHT = frozenset({"killed", "timeout", "segfault", "caught by type check"})


@dataclass(frozen=True)
class Equivalent:
    function: str  # mutmut's name of the mutated function, less "__mutmut_<n>"
    before: str  # the source line the mutant changes, stripped
    after: str  # what the mutant makes of it, stripped ("" when it deletes the line)
    why: str  # why no input tells them apart


EQUIVALENT: tuple[Equivalent, ...] = (
    Equivalent(
        "gateway.evaluation.x_evaluate",
        "item = roadmap.items.get(key) if key else None",
        "item = roadmap.items.get(key) if (key) or True else None",
        # Items are keyed by their (non-empty) key: looking up no key finds nothing either.
        "items.get(None) is None as well",
    ),
    Equivalent(
        "gateway.evaluation.x_evaluate",
        'on_item = {"item_key": key} if key else {}',
        'on_item = {"item_key": key} if (key) or True else {}',
        # Without a key the evidence then says "item_key": null instead of leaving it out.
        # Evidence reaches nothing but the commitments service, whose contract (Evidence)
        # reads a missing item_key as null and stores it so; the fingerprint reads
        # .get("item_key"), None either way.
        "a missing item_key and a null one are the same evidence once recorded",
    ),
    Equivalent(
        "services.commitments.lifecycle.x__later",
        "return second is not None and first > second",
        "return second is not None and first >= second",
        # _later returns False for first == second before it gets here.
        "the dates are never equal on this line",
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--report-only", action="store_true", help="report the last run in mutants/"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut reads pyproject.toml and writes mutants/ where it runs
    try:
        version = metadata.version("mutmut")
    except metadata.PackageNotFoundError:
        print("mutmut is not installed: make mutate installs it (the `mutation` extra)")
        return 2
    started = time.monotonic()
    if not args.report_only:
        shutil.rmtree(MUTANTS, ignore_errors=True)  # mutmut keeps stale copies otherwise
        run = _mutmut("run", show=sys.stdout.isatty())
        if run.returncode != 0:
            print(run.stdout[-4000:], run.stderr[-4000:], sep="\n")
            print(f"mutmut run failed (exit {run.returncode}); nothing was judged")
            return 2
    elif not MUTANTS.is_dir():
        print("no mutants/ to report on: run make mutate first")
        return 2
    statuses = _statuses()
    if not statuses:
        print("mutmut found no mutants: check [tool.mutmut] in pyproject.toml")
        return 2
    took = "" if args.report_only else f", {time.monotonic() - started:.0f} s"
    print(f"\nMutation testing of the pure cores (mutmut {version}{took}):")
    _print_counts(statuses)

    missed = sorted(name for name, status in statuses.items() if status not in CAUGHT)
    explained, unexplained, used = [], [], set()
    for name in missed:
        entry = _equivalent(name, statuses[name])
        if entry is None:
            unexplained.append(name)
        else:
            explained.append((name, entry))
            used.add(entry)
    for name, entry in explained:
        print(f"  survived, known equivalent: {name}: {entry.why}")
    for entry in EQUIVALENT:
        if entry not in used:
            print(
                f"  note: EQUIVALENT entry for {entry.function} ({entry.before!r}) matched no "
                "survivor: the line changed or a test kills it now; remove the entry"
            )
    if not unexplained:
        print("Every mutant is killed or a known equivalent.")
        return 0
    print(
        f"\n{len(unexplained)} mutant(s) not caught that no test notices. Write the test that"
        " does; only if no input can tell the mutant from the code, add it to EQUIVALENT in"
        " scripts/mutate.py with the reason."
    )
    for name in unexplained:
        before, after = _change(name)
        print(f"\n  {name}: {statuses[name]}")
        print("\n".join(f"    - {line}" for line in before.splitlines()))
        print("\n".join(f"    + {line}" for line in after.splitlines()))
    return 1


def _mutmut(*args: str, show: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=ROOT,
        text=True,
        stdout=None if show else subprocess.PIPE,
        stderr=None if show else subprocess.PIPE,
        check=False,
    )


def _statuses() -> dict[str, str]:
    listed = _mutmut("results", "--all", "true")
    if listed.returncode != 0:
        raise SystemExit(f"mutmut results failed: {listed.stderr.strip()}")
    found = {}
    for line in listed.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status
    return found


def _module(name: str) -> str:
    """gateway.evaluation.x_evaluate__mutmut_6 -> gateway/evaluation.py"""
    match = re.match(r"(.+?)\.x[_ǁ]", name)
    return (match.group(1) if match else name).replace(".", "/") + ".py"


def _print_counts(statuses: dict[str, str]) -> None:
    rows: dict[str, list[int]] = {}
    for name, status in statuses.items():
        row = rows.setdefault(_module(name), [0, 0])
        row[0] += 1
        row[1] += status in CAUGHT
    rows["all"] = [sum(row[0] for row in rows.values()), sum(row[1] for row in rows.values())]
    for module, (total, caught) in rows.items():
        print(
            f"  {module:38} {total:4} mutants {caught:4} killed ({100 * caught / total:5.1f}%)"
            f" {total - caught:3} not caught"
        )


def _change(name: str) -> tuple[str, str]:
    """The lines the mutant removes and the lines it adds, stripped."""
    shown = _mutmut("show", name).stdout.splitlines()
    removed = [line[1:].strip() for line in shown if line.startswith("-") and line[:3] != "---"]
    added = [line[1:].strip() for line in shown if line.startswith("+") and line[:3] != "+++"]
    return "\n".join(removed), "\n".join(added)


def _equivalent(name: str, status: str) -> Equivalent | None:
    if status != "survived":  # "no tests", "suspicious" and the like are never equivalent
        return None
    function = name.rpartition("__mutmut_")[0]
    before, after = _change(name)
    for entry in EQUIVALENT:
        if (entry.function, entry.before, entry.after) == (function, before, after):
            return entry
    return None


if __name__ == "__main__":
    sys.exit(main())
