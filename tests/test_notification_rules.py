"""Who hears what, and what a message says (pure; the mutation run's tests for
services/commitments/outbound/notices.py and slack.py)."""

import json

import pytest

from kit.contracts.events import EXAMPLE_DATA, EventType
from services.commitments.outbound import slack
from services.commitments.outbound.messages import notice
from services.commitments.outbound.notices import Recipient, Rules, SlackRoute, recipients

E = EventType
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXX"
ROUTE = SlackRoute(name="deal-desk", url=SLACK_URL)
RULES = Rules(
    email=True,
    area_pms={"identity": ["idpm@example.com"], "*": ["triage@example.com"]},
    escalation_email="vp@example.com",
    slack_routes=[ROUTE, SlackRoute(name="identity", url=SLACK_URL, areas=["identity"])],
)


def data(item_owner=None, item_area=None, deal_owner="rep@example.com") -> dict:
    base = EXAMPLE_DATA[E.commitment_flagged]
    return {
        **base,
        "deal": {**base["deal"], "owner": deal_owner},
        "item_owner": item_owner,
        "item_area": item_area,
    }


def emails(kind, payload, rules=RULES) -> set[str]:
    return {r.address for r in recipients(kind, payload, rules) if r.channel == "email"}


def slack_routes(kind, payload, rules=RULES) -> set[str]:
    return {r.address for r in recipients(kind, payload, rules) if r.channel == "slack"}


# Who hears what (pure) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (E.commitment_flagged, {"pm@example.com"}),
        (E.signoff_reminder, {"pm@example.com"}),
        (E.commitment_reopened, {"pm@example.com", "rep@example.com"}),
        (E.commitment_approved, {"rep@example.com"}),
        (E.commitment_rejected, {"rep@example.com"}),
        (E.signoff_overdue, {"pm@example.com", "vp@example.com"}),
        (E.commitment_cleared, set()),
        (E.commitment_withdrawn, set()),
        (E.deal_gate_changed, set()),
        (E.deal_breach_recorded, set()),
    ],
)
def test_each_event_reaches_the_people_it_concerns(kind, expected):
    payload = data(item_owner="PM@example.com", item_area="identity")
    assert emails(kind, payload) == expected


def test_without_an_item_pm_the_areas_pms_review_and_else_the_triage_list():
    assert emails(E.commitment_flagged, data(item_area="identity")) == {"idpm@example.com"}
    assert emails(E.commitment_flagged, data(item_area="billing")) == {"triage@example.com"}
    assert emails(E.commitment_flagged, data()) == {"triage@example.com"}
    no_triage = Rules(email=True, area_pms={})
    assert emails(E.commitment_flagged, data(), no_triage) == set()


def test_who_may_decide_now_is_told_first_as_the_reviewers_directory_says():
    routed = {**data(item_owner="pm@example.com", item_area="identity"),
              "reviewers": ["ana@example.com", "Ben@example.com"]}  # fmt: skip
    assert emails(E.commitment_flagged, routed) == {"ana@example.com", "ben@example.com"}
    assert emails(E.commitment_reassigned, routed) == {"ana@example.com", "ben@example.com"}
    assert emails(E.commitment_step_approved, routed) == {"ana@example.com", "ben@example.com"}
    assert emails(E.commitment_reassigned, data(item_owner="pm@example.com")) == {
        "pm@example.com"
    }  # no reviewer known: as before
    overdue = {**EXAMPLE_DATA[E.signoff_overdue], "reviewers": ["ana@example.com"],
               "escalation_contacts": ["boss@example.com"]}  # fmt: skip
    assert emails(E.signoff_overdue, overdue) == {
        "ana@example.com", "boss@example.com", "vp@example.com"
    }  # fmt: skip
    assert emails(E.signoff_reminder, overdue) == {"ana@example.com"}


def test_a_reassignment_says_to_whom_and_why():
    found = notice(
        E.commitment_reassigned, EXAMPLE_DATA[E.commitment_reassigned], "https://dg.example/"
    )
    assert found.title == "Reassigned to you: sign-off awaited: SSO with Okta"
    assert "Reassigned to ben@example.com by ana@example.com: Ben owns SSO this quarter." in (
        found.notes
    )


def test_no_smtp_no_email_and_a_rep_unknown_is_not_told():
    assert emails(E.commitment_flagged, data(item_owner="pm@example.com"), Rules()) == set()
    assert emails(E.commitment_approved, data(deal_owner=None)) == set()


def test_slack_routes_take_their_types_and_areas():
    assert slack_routes(E.commitment_flagged, data(item_area="identity")) == {
        "deal-desk",
        "identity",
    }
    assert slack_routes(E.commitment_flagged, data(item_area="billing")) == {"deal-desk"}
    assert slack_routes(E.deal_gate_changed, data(item_area="identity")) == set()
    only_overdue = Rules(
        slack_routes=[SlackRoute(name="x", url=SLACK_URL, event_types=[E.signoff_overdue])]
    )
    assert slack_routes(E.commitment_flagged, data(), only_overdue) == set()
    assert slack_routes(E.signoff_overdue, {**EXAMPLE_DATA[E.signoff_overdue]}, only_overdue) == {
        "x"
    }
    assert recipients(E.commitment_flagged, data(item_owner="a@x.io"), RULES)[0] == Recipient(
        "email", "a@x.io"
    )


# What a message says -----------------------------------------------------------------------


def test_a_notice_says_why_the_promise_is_at_risk():
    found = notice(
        E.commitment_reopened, EXAMPLE_DATA[E.commitment_reopened], "https://dg.example/"
    )
    assert found.title == "Sign-off needed again: SSO with Okta"
    assert found.deal == "Acme expansion (Acme Corp) · 250,000.00 USD · rep@example.com"
    assert found.promise == "integration · promised by 2027-03-01 · roadmap item RM-12"
    (conflict,) = found.conflicts
    assert conflict.heading == "date_before_plan (blocker)"
    assert "RM-12 is planned to ship 2027-04-01" in conflict.message
    assert conflict.evidence == (
        "RM-12 · item_status planned · planned_end 2027-04-01 · promised_by 2027-03-01"
    )
    assert found.notes[0].startswith("Not covered by the approval: date_before_plan on RM-12")
    assert found.notes[1] == "What changed: the roadmap (RM-12)."
    assert found.link == "https://dg.example/v1/commitments/7c9e6679-7425-40de-944b-e07fc1f90ae7"
    approved = notice(E.commitment_approved, EXAMPLE_DATA[E.commitment_approved], "http://x")
    assert approved.notes == (
        "Approved by ana@example.com: Fine: the pilot starts after GA.",
        "Conditions: Pilot only.",
    )


def test_a_slack_message_is_block_kit_within_slacks_limits():
    one = notice(E.commitment_flagged, EXAMPLE_DATA[E.commitment_flagged], "http://x")
    message = slack.message([one])
    blocks = message["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": one.title}}
    text = json.dumps(blocks)
    assert "*date_before_plan (blocker)*" in text
    assert "planned_end 2027-04-01" in text
    assert blocks[-1]["elements"][0]["url"] == one.link
    assert message["text"].startswith("Sign-off needed: SSO with Okta")
    long = notice(
        E.commitment_flagged,
        {**EXAMPLE_DATA[E.commitment_flagged], "commitment": {
            **EXAMPLE_DATA[E.commitment_flagged]["commitment"], "summary": "<x> & " * 100}},
        "http://x",
    )  # fmt: skip
    header = slack.message([long])["blocks"][0]["text"]["text"]
    assert len(header) == 150
    digest = slack.message([one] * 40)
    assert digest["blocks"][0]["text"]["text"] == "40 updates from Dealgate"
    escaped = json.dumps(slack.message([long, one]))
    assert "&lt;x&gt; &amp;" in escaped
