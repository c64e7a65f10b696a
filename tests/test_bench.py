"""The benchmarks keep running as the code changes (their figures are read, not asserted)."""

import json
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


def test_the_speed_benchmark_runs_every_scenario_on_a_small_load(tmp_path):
    """`make bench` on a small load: each scenario's figures, its floor and its ratio."""
    output = tmp_path / "latest.json"
    result = subprocess.run(
        [sys.executable, str(BENCH / "speed.py"), "--backend", "sqlite", "--seconds", "0.5",
         "--limit", "20", "--deals", "30", "--bulk", "1000", "--roadmap-sizes", "50,100",
         "--growth-deals", "5", "--reports", "300", "--drain", "40", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    figures = json.loads(output.read_text())["backends"]["sqlite"]
    for scenario in ("ingestion", "readiness", "decision", "list"):
        assert figures[scenario]["requests"] > 0, scenario
        assert figures[scenario]["failures"] == 0, figures[scenario]
    assert figures["bulk_intake"]["left_owed"] == 0
    assert figures["recheck"]["left_owed"] == 0
    assert figures["roadmap_growth"]["deleted"] == 100
    assert set(figures["peak_memory_mb"]) == {"gateway", "commitments", "roadmap"}
    assert figures["drain"]["events"] == 40
    assert "ratio" in result.stdout
