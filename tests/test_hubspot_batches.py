"""What a HubSpot app's webhook batch is made into (pure): each event as a notification
naming a deal or a commitment record, or kept as ignored with the reason; and what a
fetched stage means."""

import json

import pytest

from gateway.crm.hubspot import notifications, stage_name, stage_of_metadata
from kit.problems import ProblemError
from tests.hubspot_helpers import event
from tests.support.crm_simulators import COMMITMENT_NAME, COMMITMENT_TYPE, PORTAL_ID


def read(*events: dict, commitment_type: str | None = COMMITMENT_TYPE) -> list[dict]:
    return notifications(json.dumps(list(events)).encode(), PORTAL_ID, commitment_type)


def test_deal_events_name_their_deal_and_keep_the_event():
    created = event("deal.creation", "9001")

    (found,) = read(created)

    assert found["event_id"] == f"hubspot-{PORTAL_ID}-{created['eventId']}"
    assert (found["subject"], found["object_id"], found["action"]) == ("deal", "9001", "creation")
    assert found["payload"] == created
    assert "deal_external_id" not in found
    assert "ignored_reason" not in found


def test_association_changes_name_the_deal_on_either_side():
    legacy = event("deal.associationChange", "0", fromObjectId=9001, toObjectId=5001,
                   associationType="DEAL_TO_COMPANY", associationRemoved=False)  # fmt: skip
    record = event("object.associationChange", "0", fromObjectId=7001, toObjectId=9001,
                   fromObjectTypeId=COMMITMENT_TYPE, toObjectTypeId="0-3")  # fmt: skip
    del record["objectTypeId"]

    deal_side, record_side = read(legacy, record)

    assert (deal_side["subject"], deal_side["deal_external_id"]) == ("deal", "9001")
    assert (record_side["subject"], record_side["object_id"]) == ("commitment", "7001")
    assert record_side["deal_external_id"] == "9001"


def test_commitment_records_are_known_by_type_id_or_taken_for_the_name_to_resolve():
    record = event("object.propertyChange", "7001", propertyName="kind")
    other_custom = {**event("object.creation", "7002"), "objectTypeId": "2-999"}

    by_id = read(record, other_custom)
    by_name = read(record, other_custom, commitment_type=COMMITMENT_NAME)

    assert [n["subject"] for n in by_id] == ["commitment", "deal"]
    assert "2-999" in by_id[1]["ignored_reason"]
    assert [n["subject"] for n in by_name] == ["commitment", "commitment"]


def test_objects_dealgate_does_not_read_are_ignored_with_the_reason():
    contact = event("contact.creation", "123")
    record = event("object.creation", "7001")

    ignored_contact, unconfigured = read(contact, record, commitment_type=None)

    assert "0-1" in ignored_contact["ignored_reason"]
    assert "contact.creation" in ignored_contact["ignored_reason"]
    assert "not set" in unconfigured["ignored_reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{}", "body"),
        (b"[]", "body"),
        (b"[1]", "body.0"),
        (json.dumps([{**event("deal.creation", "1"), "eventId": "x"}]).encode(), "body.0.eventId"),
        (json.dumps([{**event("deal.creation", "1"), "portalId": 1}]).encode(), "body.0.portalId"),
        (json.dumps([{**event("deal.creation", "1"), "objectId": None}]).encode(),
         "body.0.objectId"),
        (json.dumps([{**event("deal.creation", "1"), "occurredAt": True}]).encode(),
         "body.0.occurredAt"),
    ],
    # Named, not shown: the events carry ids and times that differ between test processes.
    ids=["object", "empty", "not-an-event", "event-id", "portal", "object-id", "occurred-at"],
)  # fmt: skip
def test_what_is_not_a_batch_of_this_portal_is_422(body, field):
    with pytest.raises(ProblemError) as refused:
        notifications(body, PORTAL_ID, COMMITMENT_TYPE)

    assert refused.value.status == 422
    assert refused.value.errors[0].field == field


def test_a_gateway_without_a_portal_takes_no_batch():
    with pytest.raises(ProblemError) as refused:
        notifications(json.dumps([event("deal.creation", "1")]).encode(), None, None)

    assert "DEALGATE_HUBSPOT_PORTAL_ID" in refused.value.errors[0].message


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"isClosed": "true", "probability": "1.0"}, "closed_won"),
        ({"isClosed": "true", "probability": "0.0"}, "closed_lost"),
        ({"isClosed": "true", "probability": "0.5"}, "closed_lost"),
        ({"isClosed": "false", "probability": "1.0"}, "open"),
        ({"isClosed": "TRUE", "probability": "not a number"}, "closed_lost"),
        ({}, "open"),
    ],
)
def test_a_stage_means_what_its_pipeline_metadata_says(metadata, expected):
    assert stage_name("123456791", stage_of_metadata(metadata)) == expected


def test_without_pipeline_metadata_hubspots_default_stage_ids_stand():
    assert stage_name("closedwon", None) == "closed_won"
    assert stage_name("closedlost", None) == "closed_lost"
    assert stage_name("123456791", None) == "open"
