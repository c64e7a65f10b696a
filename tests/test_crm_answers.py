"""The rep's answer to a reviewer's question, as each CRM's record carries it (the
promise's `answer` in HubSpot, `Answer__c` in Salesforce), in the canonical event."""

from gateway.crm import hubspot, salesforce_sync
from gateway.crm.records import readable


def test_hubspot_reads_the_answer_property():
    record = hubspot.commitment_of_record(
        "301", {"kind": "feature", "summary": "SSO with Okta", "answer": "Yes, a pilot."}
    )
    assert readable(record)["answer"] == "Yes, a pilot."
    assert hubspot.commitment_of_record("301", {"kind": "feature", "answer": ""})["answer"] is None


def test_salesforce_reads_the_answer_field():
    record = salesforce_sync.commitment_of_record(
        {"Id": "a01", "Kind__c": "feature", "Summary__c": "SSO", "Answer__c": "Yes, a pilot."}
    )
    assert readable(record)["answer"] == "Yes, a pilot."
    unanswered = salesforce_sync.commitment_of_record(
        {"Id": "a01", "Kind__c": "feature", "Summary__c": "SSO"}
    )
    assert unanswered["answer"] is None
