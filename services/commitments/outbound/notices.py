"""Who is told what: the events people hear about, and their recipients (what a message
says is messages.py). Pure: no I/O.

Who hears what (DESIGN.md "Events out", issue 10):
- who may decide it now (the approvers of its chain's step whose turn it is, from the
  reviewers directory, or whoever it was reassigned to); with none known, the PM of the
  linked roadmap item, or else the area's PMs from the settings (`*` names those for
  promises with no item or no known PM): flagged, reopened, answered, reassigned, a step
  approved (the next step's approvers), reminder, overdue;
- the deal's owner (the rep): approved, rejected, reopened, a reviewer's question
  (info_requested), and a record to fix in the CRM (needs_attention);
- the escalation contacts of those reviewers (directory) and the escalation address:
  overdue;
- a Slack route (an incoming webhook): the event types it takes, for the areas it names
  (none named: every area).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, HttpUrl

from kit.contracts.events import EventType

E = EventType
PEOPLE_EVENTS = (
    E.commitment_flagged,
    E.commitment_reopened,
    E.commitment_approved,
    E.commitment_rejected,
    E.commitment_needs_attention,
    E.commitment_info_requested,
    E.commitment_answered,
    E.commitment_reassigned,
    E.commitment_step_approved,
    E.signoff_reminder,
    E.signoff_overdue,
)
TO_REVIEWERS = {
    E.commitment_flagged,
    E.commitment_reopened,
    E.commitment_answered,
    E.commitment_reassigned,
    E.commitment_step_approved,
    E.signoff_reminder,
    E.signoff_overdue,
}
TO_REP = {
    E.commitment_approved,
    E.commitment_rejected,
    E.commitment_reopened,
    E.commitment_needs_attention,
    E.commitment_info_requested,
}
ANY_AREA = "*"


class SlackRoute(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="Names it in the records.")
    url: HttpUrl = Field(description="The Slack incoming-webhook URL.")
    event_types: list[EventType] = Field(default_factory=lambda: list(PEOPLE_EVENTS))
    areas: list[str] = Field(default_factory=list, description="None: every area.")


@dataclass(frozen=True)
class Rules:
    email: bool = False  # an SMTP server is set
    area_pms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    escalation_email: str | None = None
    slack_routes: Sequence[SlackRoute] = ()


@dataclass(frozen=True, order=True)
class Recipient:
    channel: str  # email | slack
    address: str  # an email address, or a Slack route's name


def recipients(kind: str, data: Mapping, rules: Rules) -> list[Recipient]:
    if kind not in PEOPLE_EVENTS:
        return []
    kind = EventType(kind)
    area = data.get("item_area")
    found: set[Recipient] = set()
    if rules.email:
        people: set[str] = set()
        if kind in TO_REVIEWERS:
            owner = data.get("item_owner")
            area_pms = rules.area_pms.get(area)  # no area: None, which no key is
            fallback = [owner] if owner else area_pms or rules.area_pms.get(ANY_AREA, ())
            people.update(data.get("reviewers") or fallback)
        if kind in TO_REP and data["deal"].get("owner"):
            people.add(data["deal"]["owner"])
        if kind is E.signoff_overdue:
            people.update(data.get("escalation_contacts") or ())
            if rules.escalation_email:
                people.add(rules.escalation_email)
        found.update(Recipient("email", person.lower()) for person in people)
    for route in rules.slack_routes:
        if kind in route.event_types and (not route.areas or area in route.areas):
            found.add(Recipient("slack", route.name))
    return sorted(found)
