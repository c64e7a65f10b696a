"""`make mutate` stays runnable: its configuration names files that exist, its tests need no
conftest, and its list of known-equivalent mutants still points at real lines. (The
mutation run itself takes minutes; this checks in seconds what would break it.)"""

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG = PYPROJECT["tool"]["mutmut"]


def _mutate_script():
    spec = importlib.util.spec_from_file_location("mutate_script", ROOT / "scripts/mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mutated_modules_and_their_tests_exist():
    assert CONFIG["only_mutate"]
    for path in [*CONFIG["only_mutate"], *CONFIG["pytest_add_cli_args_test_selection"]]:
        assert (ROOT / path).is_file(), path
    for path in CONFIG["only_mutate"]:
        assert any(path.startswith(f"{source}/") for source in CONFIG["source_paths"]), path


def test_the_make_target_installs_a_pinned_mutmut_and_runs_the_script():
    (pin,) = PYPROJECT["project"]["optional-dependencies"]["mutation"]
    assert re.fullmatch(r"mutmut==[\d.]+", pin)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^mutate:.*\n\t.*scripts/mutate\.py", makefile, re.MULTILINE)
    assert "mutate" not in re.search(r"^test:.*$", makefile, re.MULTILINE).group(0)


def test_the_selected_tests_collect_without_the_conftest():
    """mutmut runs them with `--noconftest`: no database, no apps."""
    arguments = [*CONFIG["pytest_add_cli_args"], *CONFIG["pytest_add_cli_args_test_selection"]]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]


def test_every_known_equivalent_names_a_line_of_a_mutated_module():
    script = _mutate_script()
    mutated = set(CONFIG["only_mutate"])
    for entry in script.EQUIVALENT:
        module = script._module(f"{entry.function}__mutmut_1")
        assert module in mutated, entry
        lines = {line.strip() for line in (ROOT / module).read_text().splitlines()}
        assert entry.before in lines, f"{module} no longer has {entry.before!r}: drop the entry"
        assert entry.why


def test_mutant_names_map_to_their_modules():
    module = _mutate_script()._module

    assert module("gateway.evaluation.x_evaluate__mutmut_6") == "gateway/evaluation.py"
    assert module("services.commitments.lifecycle.xǁTransitionRefusedǁ__init____mutmut_1") == (
        "services/commitments/lifecycle.py"
    )
