"""The canonical CRM event the commitments service takes: closed, exact, explicit."""

import copy
from decimal import Decimal

import pytest
from pydantic import ValidationError

from kit.contracts.commitments import CrmEvent
from services.commitments.events import incoming

EXAMPLE = CrmEvent.model_config["json_schema_extra"]["examples"][0]


def event(**changes: object) -> dict:
    body = copy.deepcopy(EXAMPLE)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = body
        for parent in parents:
            target = target[int(parent)] if parent.isdigit() else target[parent]
        target[leaf] = value
    return body


def test_the_design_example_is_valid_and_exact():
    parsed = CrmEvent.model_validate(EXAMPLE)

    assert parsed.deal.amount == Decimal("250000.00")
    assert incoming(parsed.commitments[0]).roadmap_item_key == "RM-12"


def test_an_empty_roadmap_key_means_no_link():
    parsed = CrmEvent.model_validate(event(commitments__0__roadmap_item_key=""))

    assert incoming(parsed.commitments[0]).roadmap_item_key is None


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"deal__amount": 250000.1}, ("deal", "amount")),  # a float has lost its cents
        ({"deal__amount": "-1.00"}, ("deal", "amount")),
        ({"deal__amount": "1.001"}, ("deal", "amount")),
        ({"deal__currency": "usd"}, ("deal", "currency")),
        ({"deal__stage": "Closed Won"}, ("deal", "stage")),  # adapters map stages first
        ({"deal__source": "pipedrive"}, ("deal", "source")),
        ({"deal__updated_at": "2026-11-20T09:59:00"}, ("deal", "updated_at")),  # no zone
        # Valid as written, but before year 1 once in UTC: stored, it would be a 500.
        ({"occurred_at": "0001-01-01T00:00:00+23:59"}, ("occurred_at",)),
        ({"deal__updated_at": "9999-12-31T23:59:00-01:00"}, ("deal", "updated_at")),
        ({"deal__owner": "not-an-email"}, ("deal", "owner")),
        ({"commitments__0__kind": "wish"}, ("commitments", 0, "kind")),
        ({"commitments__0__roadmap_item_key": "rm-12"}, ("commitments", 0, "roadmap_item_key")),
        ({"commitments__0__promised_by": 0}, ("commitments", 0, "promised_by")),
        ({"commitments__0__tags": ["Not A Slug"]}, ("commitments", 0, "tags", 0)),
        ({"commitments__0__colour": "blue"}, ("commitments", 0, "colour")),
        ({"event_type": "deal.deleted"}, ("event_type",)),
        ({"extra": 1}, ("extra",)),
    ],
)
def test_bad_events_are_refused_naming_the_field(changes, location):
    with pytest.raises(ValidationError) as refused:
        CrmEvent.model_validate(event(**changes))

    assert any(error["loc"][: len(location)] == location for error in refused.value.errors())


def test_a_commitment_listed_twice_is_refused():
    body = event()
    body["commitments"].append(copy.deepcopy(body["commitments"][0]))

    with pytest.raises(ValidationError, match="listed twice"):
        CrmEvent.model_validate(body)
