"""Salesforce with API access: the gate written back to the Opportunity, and a deleted
commitment record withdrawn by reconciliation (Salesforce sends nothing on a delete),
against a simulator of Salesforce's OAuth and REST APIs."""

import pytest

from tests.conftest import Stack
from tests.gateway_helpers import PM, VIEWER, eventually, reviewer, roadmap_with_two_items
from tests.support.crm_simulators import (
    SALESFORCE_CLIENT_ID,
    SALESFORCE_CLIENT_SECRET,
    Fault,
    Salesforce,
)
from tests.test_gateway_salesforce import (
    OPPORTUNITY,
    ORG,
    ORG_SECRET,
    commitment,
    envelope,
    opportunity,
    send,
)

RECORDS = {"a015e00000AbCdEAAV": "RM-12", "a015e00000AbCdFAAV": "RM-20"}


@pytest.fixture
def org() -> Salesforce:
    org = Salesforce()
    org.put("Opportunity", OPPORTUNITY, Name="Acme via Salesforce")
    for record, item in RECORDS.items():
        org.put(
            "Dealgate_Commitment__c", record,
            Opportunity__c=OPPORTUNITY, Kind__c="feature", Summary__c=f"Item {item}",
            Roadmap_Item_Key__c=item, Promised_By__c="2027-03-01" if item == "RM-12" else
            "2027-06-01", Tags__c="enterprise-security", External_Id__c=None,
        )  # fmt: skip
    return org


def salesforce_stack(commitments_db_url, roadmap_db_url, org, **settings) -> Stack:
    return Stack(
        commitments_db_url,
        roadmap_db_url,
        crm={"salesforce": org.transport()},
        salesforce_orgs=f"{ORG}={ORG_SECRET}",
        salesforce_instance_url="https://dealgate-dev.my.salesforce.com",
        salesforce_client_id=SALESFORCE_CLIENT_ID,
        salesforce_client_secret=SALESFORCE_CLIENT_SECRET,
        crm_sync_interval_seconds=0.05,
        crm_retry_max_seconds=1,
        **settings,
    )


@pytest.fixture
async def gateway(commitments_db_url, roadmap_db_url, org):
    stack = salesforce_stack(
        commitments_db_url, roadmap_db_url, org, salesforce_reconcile_interval_seconds=0.3
    )
    async with stack.running() as client:
        yield client


async def send_the_opportunity_and_its_records(gateway) -> None:
    await roadmap_with_two_items(gateway)
    assert (await send(gateway, envelope(opportunity()))).status_code == 200
    records = [
        commitment(f"04l00000000010{index}", record, Roadmap_Item_Key__c=item,
                   Summary__c=f"Item {item}",
                   Promised_By__c="2027-03-01" if item == "RM-12" else "2027-06-01")
        for index, (record, item) in enumerate(RECORDS.items())
    ]  # fmt: skip
    assert (await send(gateway, envelope(*records))).status_code == 200


async def statuses(gateway) -> dict[str, str]:
    listed = (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
    return {c["external_id"]: c["review_status"] for c in listed}


async def gate(org: Salesforce) -> tuple:
    """The Opportunity's gate fields, as the Salesforce user sees them."""
    fields = org.records["Opportunity"][OPPORTUNITY]
    return fields.get("Dealgate_Ready__c"), fields.get("Dealgate_Blocking__c")


async def test_the_gate_reaches_the_opportunity_and_a_deleted_record_stops_blocking(gateway, org):
    await send_the_opportunity_and_its_records(gateway)
    assert await statuses(gateway) == {
        "a015e00000AbCdEAAV": "needs_signoff", "a015e00000AbCdFAAV": "cleared"
    }  # fmt: skip
    await eventually(lambda: gate(org), lambda found: found == (False, 1))
    assert org.records["Opportunity"][OPPORTUNITY]["Dealgate_URL__c"].endswith("/readiness")

    org.delete("Dealgate_Commitment__c", "a015e00000AbCdEAAV")

    await eventually(
        lambda: statuses(gateway),
        lambda found: found.get("a015e00000AbCdEAAV") == "withdrawn",
    )
    await eventually(lambda: gate(org), lambda found: found == (True, 0))


async def test_an_approval_is_written_back_and_an_expired_token_is_renewed(gateway, org):
    await send_the_opportunity_and_its_records(gateway)
    await reviewer(gateway)
    await eventually(lambda: gate(org), lambda found: found == (False, 1))
    flagged = next(
        c
        for c in (await gateway.get("/v1/commitments", headers=VIEWER)).json()["items"]
        if c["review_status"] == "needs_signoff"
    )
    org.expire_tokens()
    org.fail_next(Fault(status=503, path_contains="/sobjects/Opportunity"))

    decided = await gateway.post(
        f"/v1/commitments/{flagged['id']}/decision",
        json={"decision": "approve", "comment": "fine"},
        headers=PM,
    )

    assert decided.status_code == 200
    await eventually(lambda: gate(org), lambda found: found == (True, 0))
    assert org.tokens_issued >= 2
