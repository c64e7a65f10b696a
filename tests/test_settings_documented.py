"""The README's settings table names every environment variable a deployment may set, by its
full name, as the settings classes read it."""

import re
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from kit.settings import AppSettings
from services.commitments.settings import CommitmentsSettings
from services.roadmap.settings import RoadmapSettings

README = Path(__file__).resolve().parent.parent / "README.md"
SETTINGS: list[type[AppSettings]] = [GatewaySettings, CommitmentsSettings, RoadmapSettings]


def settings_table_variables() -> set[str]:
    """The variables in the first cell of each row of the one table under "## Settings"
    (a row cut off from its table by a blank line does not count: it renders as text)."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| variable |"))
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def every_variable() -> list[str]:
    return sorted({cls.env_name(field) for cls in SETTINGS for field in cls.model_fields})


def test_the_variable_names_come_from_the_settings_classes():
    assert GatewaySettings.env_name("port") == "DEALGATE_PORT"
    assert RoadmapSettings.env_name("delivery_timeout_seconds") == (
        "ROADMAP_DELIVERY_TIMEOUT_SECONDS"
    )
    assert CommitmentsSettings.env_name("environment") == "DEALGATE_ENV"  # an alias
    assert CommitmentsSettings.env_name("instance_id") == "DEALGATE_INSTANCE_ID"


@pytest.mark.parametrize("variable", every_variable())
def test_every_setting_has_a_row_in_the_readme(variable):
    assert variable in settings_table_variables(), f"README.md's settings table lacks {variable}"


def test_the_traceback_switch_is_documented_too():
    assert "DEALGATE_TRACEBACK" in settings_table_variables()
