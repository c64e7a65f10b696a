"""`python -m gateway hubspot setup`, as an admin runs it (its own process), against the
HubSpot simulator served on a local port: the commitment object and the write-back's deal
properties made once, however often it runs, and what is left to click printed."""

import os
import subprocess
import sys
from pathlib import Path

from tests.support.crm_simulators import COMMITMENT_TYPE, HUBSPOT_TOKEN, HubSpot, Listening

ROOT = Path(__file__).resolve().parent.parent


def setup(api_url: str, *arguments: str, token: str = HUBSPOT_TOKEN):
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("DEALGATE_")
    }
    environment |= {
        "DEALGATE_HUBSPOT_API_URL": api_url,
        "DEALGATE_HUBSPOT_ACCESS_TOKEN": token,
        "DEALGATE_HUBSPOT_PORTAL_ID": "62515",
        "DEALGATE_PUBLIC_URL": "https://dealgate.example.com",
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", "hubspot", "setup", *arguments],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_setup_makes_the_object_and_properties_once_and_says_what_is_left():
    account = HubSpot()
    with Listening(account.app) as served:
        first = setup(served.url, "--tag", "enterprise-security", "--tag", "on-prem")
        again = setup(served.url)

    assert first.returncode == 0, first.stderr
    assert f"created the custom object dealgate_commitment ({COMMITMENT_TYPE})" in first.stdout
    assert "deal property dealgate_ready: created" in first.stdout
    assert f"DEALGATE_HUBSPOT_COMMITMENT_OBJECT={COMMITMENT_TYPE}" in first.stdout
    assert "Target URL: https://dealgate.example.com/v1/webhooks/hubspot" in first.stdout
    assert "'Dealgate: ready to close' must be Yes" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "already there" in again.stdout
    assert "created the custom object" not in again.stdout
    assert ": created\n" not in again.stdout
    assert set(account.properties["0-3"]) == {
        "dealgate_ready", "dealgate_blocking_count", "dealgate_url"
    }  # fmt: skip
    assert account.properties["0-3"]["dealgate_ready"]["fieldType"] == "booleancheckbox"
    made = account.properties[COMMITMENT_TYPE]
    assert set(made) == {"summary", "kind", "roadmap_item_key", "promised_by", "tags", "answer"}
    assert [o["value"] for o in made["kind"]["options"]] == [
        "feature", "integration", "custom_work", "date", "other"
    ]  # fmt: skip
    assert [o["value"] for o in made["tags"]["options"]] == ["enterprise-security", "on-prem"]
    assert made["promised_by"]["fieldType"] == "date"


def test_a_refused_token_is_one_clear_line_and_nothing_is_made():
    account = HubSpot()
    with Listening(account.app) as served:
        refused = setup(served.url, token="pat-na1-not-the-right-token")

    assert refused.returncode == 1
    assert "HubSpot API refused GET /crm-object-schemas/v3/schemas with 401" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not account.schemas
    assert not account.properties
