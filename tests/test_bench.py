"""The benchmarks keep running as the code changes (their figures are read, not asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "command",
    [
        ["roadmap_bench.py", "--items", "60", "--requests", "5", "--backend", "sqlite"],
        ["commitments_bench.py", "--commitments", "200", "--requests", "1", "--backend", "sqlite"],
        ["gateway_bench.py", "--deals", "4", "--requests", "4", "--backend", "sqlite"],
        ["outage_bench.py", "--events", "16", "--outage-seconds", "1", "--backend", "sqlite"],
        ["events_bench.py", "--events", "40", "--backend", "sqlite"],
    ],
    ids=["roadmap", "commitments", "gateway", "outage", "events"],
)
def test_a_benchmark_runs_on_a_small_load(command):
    result = subprocess.run(
        [sys.executable, str(BENCH / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "ms wall" in result.stdout
