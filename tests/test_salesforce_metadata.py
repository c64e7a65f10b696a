"""What the Salesforce admin deploys (`deploy/salesforce/`, a Salesforce DX source folder):
well-formed, and defining every field the gateway reads from an Outbound Message or SOQL and
every field it writes back, with the values the code expects."""

import json
import re
from pathlib import Path

import defusedxml.ElementTree as SafeXml
import pytest

from gateway.crm import salesforce, salesforce_sync
from kit.contracts.commitments import CommitmentKind

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "deploy" / "salesforce"
SOURCE = PROJECT / "force-app" / "main" / "default"
METADATA = "{http://soap.sforce.com/2006/04/metadata}"
CUSTOM_FIELD = re.compile(r"\b([A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c)\b")


def xml(path: Path):
    return SafeXml.parse(path, forbid_dtd=True).getroot()


def defined_fields(object_name: str) -> set[str]:
    folder = SOURCE / "objects" / object_name / "fields"
    return {path.name.removesuffix(".field-meta.xml") for path in folder.glob("*.field-meta.xml")}


def fields_the_code_names(module) -> set[str]:
    return set(CUSTOM_FIELD.findall(Path(module.__file__).read_text())) - {
        salesforce.COMMITMENT_OBJECT
    }


def test_it_is_a_salesforce_dx_project_of_well_formed_metadata():
    project = json.loads((PROJECT / "sfdx-project.json").read_text())
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    files = sorted(SOURCE.rglob("*-meta.xml"))
    assert len(files) >= 20
    for path in files:
        root = xml(path)
        assert root.tag.startswith(METADATA), path
        kind = path.name.split(".")[-2].removesuffix("-meta")
        expected = {
            "object": "CustomObject", "field": "CustomField", "validationRule": "ValidationRule",
            "workflow": "Workflow", "flow": "Flow", "permissionset": "PermissionSet",
        }[kind]  # fmt: skip
        assert root.tag == METADATA + expected, path
        if expected == "CustomField":
            assert root.findtext(f"{METADATA}fullName") == path.name.split(".")[0]


@pytest.mark.parametrize("module", [salesforce, salesforce_sync])
def test_every_custom_field_the_code_reads_or_writes_is_defined(module):
    named = fields_the_code_names(module)
    defined = {f"{name}" for name in defined_fields("Opportunity")} | defined_fields(
        salesforce.COMMITMENT_OBJECT
    )
    assert named, "the pattern finds the code's fields"
    assert named <= defined, f"not in deploy/salesforce: {sorted(named - defined)}"


def test_the_write_back_fields_are_on_the_opportunity_with_their_types():
    types = {
        name: xml(
            SOURCE / "objects" / "Opportunity" / "fields" / f"{name}.field-meta.xml"
        ).findtext(f"{METADATA}type")
        for name in salesforce_sync.OPPORTUNITY_FIELDS
    }
    assert types == {
        "Dealgate_Ready__c": "Checkbox", "Dealgate_Blocking__c": "Number", "Dealgate_URL__c": "Url"
    }  # fmt: skip


def test_the_kind_picklist_offers_exactly_the_kinds_dealgate_takes():
    kind = xml(
        SOURCE / "objects" / salesforce.COMMITMENT_OBJECT / "fields" / "Kind__c.field-meta.xml"
    )
    values = [value.findtext(f"{METADATA}fullName") for value in kind.iter(f"{METADATA}value")]
    assert values == [kind.value for kind in CommitmentKind]


def test_the_outbound_messages_carry_what_the_gateway_requires_and_flows_send_them():
    for object_name, required in (
        ("Opportunity", {"Id", "Name", "StageName", "LastModifiedDate", "Amount", "CloseDate",
                         "IsWon", "IsClosed", "Account_Name__c", "Owner_Email__c"}),
        (salesforce.COMMITMENT_OBJECT, {"Id", "Opportunity__c", "Kind__c", "Summary__c",
                                        "Roadmap_Item_Key__c", "Promised_By__c", "Tags__c",
                                        "Status__c", "Answer__c"}),
    ):  # fmt: skip
        workflow = xml(SOURCE / "workflows" / f"{object_name}.workflow-meta.xml")
        (message,) = workflow.findall(f"{METADATA}outboundMessages")
        sent = {field.text for field in message.findall(f"{METADATA}fields")}
        assert required <= sent, (object_name, sorted(required - sent))
        assert message.findtext(f"{METADATA}endpointUrl").endswith(
            "/v1/webhooks/salesforce?key=REPLACE_WITH_YOUR_ORGANIZATION_SECRET"
        )
        name = message.findtext(f"{METADATA}fullName")
        flow = xml(SOURCE / "flows" / f"{name}_Sender.flow-meta.xml")
        assert (
            flow.findtext(f"{METADATA}actionCalls/{METADATA}actionName") == f"{object_name}.{name}"
        )
        assert flow.findtext(f"{METADATA}start/{METADATA}object") == object_name
        assert flow.findtext(f"{METADATA}start/{METADATA}recordTriggerType") == "CreateAndUpdate"


def test_closed_won_needs_the_gate_and_withdrawn_stays_withdrawn():
    rule = xml(SOURCE / "objects" / "Opportunity" / "validationRules"
               / "Closed_Won_Needs_Dealgate.validationRule-meta.xml")  # fmt: skip
    formula = rule.findtext(f"{METADATA}errorConditionFormula")
    assert "IsWon" in formula
    assert "NOT(Dealgate_Ready__c)" in formula
    # Dealgate's own write-back to a won opportunity must pass: only a stage change is held.
    assert "ISCHANGED(StageName)" in formula
    assert rule.findtext(f"{METADATA}active") == "true"
    sales = xml(SOURCE / "permissionsets" / "Dealgate_Sales.permissionset-meta.xml")
    assert sales.findtext(f"{METADATA}objectPermissions/{METADATA}allowDelete") == "false"
