"""The conflict rules (DESIGN.md), one pure function: every rule, its boundaries, properties."""

import hashlib
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.evaluation import (
    MESSAGE_LIMIT,
    Commitment,
    Policy,
    RoadmapItem,
    RoadmapSnapshot,
    SearchMatch,
    evaluate,
)
from kit.contracts.commitments import EvaluationCreate
from kit.fingerprint import DATE_CODES, conflict_fingerprint
from services.commitments.lifecycle import SignoffConflict, fingerprint

PLANNED_END = date(2027, 3, 1)
TAGS = {"enterprise-security": "pillar", "analytics": "pillar", "on-prem": "non_goal",
        "custom-forks": "non_goal"}  # fmt: skip
POLICY = Policy()


def item(**overrides) -> RoadmapItem:
    fields = {
        "key": "RM-12", "title": "SSO with Okta", "status": "planned", "version": 3,
        "planned_end": PLANNED_END, "confidence": "high", "vision_tags": ("enterprise-security",),
    }  # fmt: skip
    fields.update(overrides)
    return RoadmapItem(**fields)


def promise(**overrides) -> Commitment:
    fields = {"kind": "feature", "summary": "SSO with Okta", "roadmap_item_key": "RM-12",
              "promised_by": None, "tags": ()}  # fmt: skip
    fields.update(overrides)
    return Commitment(**fields)


def roadmap(*items: RoadmapItem, matches=()) -> RoadmapSnapshot:
    return RoadmapSnapshot(
        items={i.key: i for i in (items or (item(),))}, tag_kinds=TAGS, matches=matches
    )


def codes(commitment: Commitment, snapshot: RoadmapSnapshot | None = None, policy=POLICY):
    return [c.code for c in evaluate(commitment, snapshot or roadmap(), policy).conflicts]


def test_a_promise_on_a_planned_pillar_item_in_time_is_clear():
    evaluation = evaluate(promise(promised_by=PLANNED_END + timedelta(days=60)), roadmap(), POLICY)

    assert evaluation.conflicts == ()
    assert evaluation.needs_signoff is False
    assert evaluation.roadmap_item_versions == {"RM-12": 3}
    assert evaluation.policy_version == "default-1"


def test_unknown_item():
    (conflict,) = evaluate(promise(roadmap_item_key="RM-99"), roadmap(), POLICY).conflicts[:1]

    assert (conflict.code, conflict.severity) == ("unknown_item", "blocker")
    assert conflict.evidence == {"item_key": "RM-99"}


@pytest.mark.parametrize(
    ("kind", "flagged"),
    [("feature", True), ("integration", True), ("custom_work", False), ("date", False),
     ("other", False)],
)  # fmt: skip
def test_unlinked_only_for_features_and_integrations(kind, flagged):
    matches = (SearchMatch("RM-12", "SSO with Okta", 0.92), SearchMatch("RM-3", "SCIM", 0.41))
    evaluation = evaluate(
        promise(kind=kind, roadmap_item_key=None), roadmap(matches=matches), POLICY
    )

    unlinked = [c for c in evaluation.conflicts if c.code == "unlinked"]
    assert bool(unlinked) is flagged
    if flagged:
        assert unlinked[0].severity == "blocker"
        assert unlinked[0].evidence["matches"] == [
            {"key": "RM-12", "title": "SSO with Okta", "score": 0.92},
            {"key": "RM-3", "title": "SCIM", "score": 0.41},
        ]


def test_a_declined_item_blocks_and_its_dates_do_not_count():
    declined = roadmap(item(status="declined", planned_end=date(2028, 1, 1)))

    assert codes(promise(promised_by=date(2027, 1, 1)), declined) == ["item_declined"]


@pytest.mark.parametrize(
    ("promise_tags", "item_tags", "expected"),
    [
        (("on-prem",), ("enterprise-security",), ["on-prem"]),
        ((), ("enterprise-security", "custom-forks"), ["custom-forks"]),
        (("on-prem",), ("custom-forks", "enterprise-security"), ["custom-forks", "on-prem"]),
        (("on-prem",), ("on-prem", "enterprise-security"), ["on-prem"]),
        (("unknown-tag",), ("enterprise-security",), []),
    ],
)
def test_non_goal_from_the_promise_or_its_item(promise_tags, item_tags, expected):
    evaluation = evaluate(promise(tags=promise_tags), roadmap(item(vision_tags=item_tags)), POLICY)

    non_goal = [c for c in evaluation.conflicts if c.code == "non_goal"]
    assert [c.evidence["tags"] for c in non_goal] == ([expected] if expected else [])
    if expected:
        assert non_goal[0].evidence["item_key"] == "RM-12"


def test_custom_work_always_blocks():
    assert codes(promise(kind="custom_work")) == ["custom_work"]
    assert codes(promise(kind="custom_work", roadmap_item_key=None)) == [
        "custom_work",
        "off_vision",
    ]


def test_unscheduled_when_the_item_has_no_planned_end():
    unplanned = roadmap(item(planned_end=None, confidence="low"))

    assert codes(promise(promised_by=date(2027, 6, 1)), unplanned) == ["unscheduled"]
    assert codes(promise(promised_by=None), unplanned) == []


@pytest.mark.parametrize(
    ("days_after_plan", "expected"),
    [
        (-1, ["date_before_plan"]),
        (0, ["date_at_risk"]),
        (29, ["date_at_risk"]),
        (30, []),
        (365, []),
    ],
)
def test_date_boundaries_against_the_margin(days_after_plan, expected):
    promised = PLANNED_END + timedelta(days=days_after_plan)

    assert codes(promise(promised_by=promised)) == expected


def test_low_confidence_puts_any_later_date_at_risk_but_not_an_earlier_one():
    shaky = roadmap(item(confidence="low"))

    assert codes(promise(promised_by=PLANNED_END + timedelta(days=400)), shaky) == ["date_at_risk"]
    assert codes(promise(promised_by=PLANNED_END - timedelta(days=1)), shaky) == [
        "date_before_plan"
    ]


def test_a_shipped_item_satisfies_any_date():
    shipped = roadmap(item(status="shipped", planned_end=date(2026, 6, 1), confidence="low"))

    assert codes(promise(promised_by=date(2020, 1, 1)), shipped) == []


def test_the_margin_comes_from_the_policy():
    promised = PLANNED_END + timedelta(days=10)

    assert codes(promise(promised_by=promised), policy=Policy(date_margin_days=7)) == []
    assert codes(promise(promised_by=promised), policy=Policy(date_margin_days=11)) == [
        "date_at_risk"
    ]


@pytest.mark.parametrize(
    ("promise_tags", "item_tags", "off_vision"),
    [
        ((), ("enterprise-security",), False),
        (("analytics",), (), False),
        ((), (), True),
        (("on-prem",), ("unknown-tag",), True),
    ],
)
def test_off_vision_when_neither_promise_nor_item_serves_a_pillar(
    promise_tags, item_tags, off_vision
):
    found = codes(promise(tags=promise_tags), roadmap(item(vision_tags=item_tags)))

    assert ("off_vision" in found) is off_vision


def test_date_evidence_carries_the_dates_the_fingerprint_reads():
    evaluation = evaluate(promise(promised_by=date(2027, 2, 1)), roadmap(), POLICY)

    (conflict,) = evaluation.conflicts
    assert conflict.as_json()["evidence"] == {
        "item_key": "RM-12",
        "planned_end": "2027-03-01",
        "promised_by": "2027-02-01",
    }
    assert evaluation.fingerprint == conflict_fingerprint(
        [("date_before_plan", "blocker", "RM-12", PLANNED_END, date(2027, 2, 1))]
    )


# One promise per conflict code, each finding that conflict alone: (commitment, snapshot).
ONE_CONFLICT = {
    "unknown_item": (promise(roadmap_item_key="RM-99", tags=("analytics",)), None),
    "item_declined": (promise(), roadmap(item(status="declined"))),
    "non_goal": (promise(tags=("on-prem",)), None),
    "custom_work": (promise(kind="custom_work"), None),
    "unscheduled": (promise(promised_by=date(2027, 6, 1)), roadmap(item(planned_end=None))),
    "date_before_plan": (promise(promised_by=date(2027, 2, 1)), None),
    "date_at_risk": (promise(promised_by=date(2027, 3, 5)), None),
    "off_vision": (promise(), roadmap(item(vision_tags=()))),
}


@pytest.mark.parametrize(
    ("code", "severity", "evidence"),
    [
        ("unknown_item", "blocker", {"item_key": "RM-99"}),
        ("item_declined", "blocker", {"item_key": "RM-12"}),
        ("non_goal", "blocker", {"item_key": "RM-12", "tags": ["on-prem"]}),
        ("custom_work", "blocker", {"item_key": "RM-12"}),
        ("unscheduled", "blocker",
         {"item_key": "RM-12", "planned_end": None, "promised_by": "2027-06-01"}),
        ("date_before_plan", "blocker",
         {"item_key": "RM-12", "planned_end": "2027-03-01", "promised_by": "2027-02-01"}),
        ("date_at_risk", "warning",
         {"item_key": "RM-12", "planned_end": "2027-03-01", "promised_by": "2027-03-05",
          "confidence": "high"}),
        ("off_vision", "warning", {"item_key": "RM-12", "tags": []}),
    ],
)  # fmt: skip
def test_each_conflict_names_its_item_and_dates_and_the_fingerprint_sees_them(
    code, severity, evidence
):
    """DESIGN.md: evidence is the item key, its dates, the tags involved; the fingerprint is
    code, severity and item key, plus the dates for the date codes. Evidence that loses the
    item key leaves the conflict out of the by-item report and lets the same approval stand
    for another item; one that loses the dates lets a slip go unnoticed."""
    commitment, snapshot = ONE_CONFLICT[code]
    evaluation = evaluate(commitment, snapshot or roadmap(), POLICY)

    (conflict,) = evaluation.conflicts
    assert (conflict.code, conflict.severity) == (code, severity)
    assert conflict.as_json()["evidence"] == evidence
    dates = (None, None)
    if code in DATE_CODES:
        dates = ((snapshot or roadmap()).items["RM-12"].planned_end, commitment.promised_by)
    assert evaluation.fingerprint == conflict_fingerprint(
        [(code, severity, evidence["item_key"], *dates)]
    )


@pytest.mark.parametrize(
    ("code", "commitment", "snapshot", "message"),
    [
        ("unknown_item", promise(roadmap_item_key="RM-99"), None,
         "No roadmap item RM-99 exists."),
        ("unlinked", promise(roadmap_item_key=None), None,
         "This feature is not linked to any roadmap item."),
        ("item_declined", promise(), roadmap(item(status="declined")),
         "RM-12 (SSO with Okta) was declined."),
        ("non_goal", promise(tags=("on-prem", "custom-forks")), None,
         "It touches what the product will not do: custom-forks, on-prem."),
        ("custom_work", promise(kind="custom_work"), None,
         "It promises work for this customer alone."),
        ("unscheduled", promise(promised_by=date(2027, 6, 1)), roadmap(item(planned_end=None)),
         "Promised by 2027-06-01; RM-12 has no planned end date."),
        ("date_before_plan", promise(promised_by=date(2027, 2, 1)), None,
         "Promised by 2027-02-01; RM-12 is planned for 2027-03-01."),
        # Inside the margin: the margin is the reason, whatever the confidence.
        ("date_at_risk", promise(promised_by=date(2027, 3, 5)), roadmap(item(confidence="low")),
         "Promised by 2027-03-05, less than 30 days after RM-12's planned end 2027-03-01."),
        # Exactly the margin after, or later: only low confidence puts it at risk.
        ("date_at_risk", promise(promised_by=date(2027, 3, 31)), roadmap(item(confidence="low")),
         "Promised by 2027-03-31, after, but with low confidence in, RM-12's planned end "
         "2027-03-01."),
        ("date_at_risk", promise(promised_by=date(2027, 9, 1)), roadmap(item(confidence="low")),
         "Promised by 2027-09-01, after, but with low confidence in, RM-12's planned end "
         "2027-03-01."),
        ("off_vision", promise(), roadmap(item(vision_tags=())),
         "Neither the promise nor its roadmap item serves any pillar of the vision."),
    ],
)  # fmt: skip
def test_the_message_a_pm_reads_names_the_item_the_dates_and_the_reason(
    code, commitment, snapshot, message
):
    evaluation = evaluate(commitment, snapshot or roadmap(), POLICY)

    assert {c.code: c.message for c in evaluation.conflicts}[code] == message


def _non_goal_message(length: int) -> tuple[tuple[str, ...], str]:
    """Distinct non-goal tags, valid slugs, whose conflict message, uncut, is `length` long."""
    prefix, suffix = "It touches what the product will not do: ", "."
    room = length - len(prefix) - len(suffix)  # what the tags and their ", " fill
    tags: list[str] = []
    while room > 60:
        tags.append(f"t{len(tags):02d}-" + "x" * 46)  # 50 characters, 52 with ", "
        room -= 52
    tags.append(f"t{len(tags):02d}-" + "x" * (room - 4))
    whole = prefix + ", ".join(tags) + suffix
    assert len(whole) == length
    return tuple(tags), whole


@pytest.mark.parametrize(
    ("length", "cut"),
    [(MESSAGE_LIMIT - 1, False), (MESSAGE_LIMIT, False), (MESSAGE_LIMIT + 1, True),
     (2001, True)],
)  # fmt: skip
def test_a_message_longer_than_the_limit_is_cut_with_an_ellipsis(length, cut):
    """Messages are bounded (evaluation._shown): the most non-goals a promise and its item
    may carry (20 tags each) must neither make a conflict the commitments service refuses
    (messages up to 2000 characters) nor a wall of text for the PM."""
    tags, whole = _non_goal_message(length)
    linked = item(vision_tags=tags[20:])
    snapshot = RoadmapSnapshot(
        items={"RM-12": linked}, tag_kinds={**TAGS, **dict.fromkeys(tags, "non_goal")}
    )

    evaluation = evaluate(promise(tags=tags[:20]), snapshot, POLICY)

    (conflict,) = [c for c in evaluation.conflicts if c.code == "non_goal"]
    assert conflict.message == (whole[: MESSAGE_LIMIT - 1] + "…" if cut else whole)
    assert len(conflict.message) <= MESSAGE_LIMIT
    EvaluationCreate.model_validate(
        {"claim_token": "0" * 32, "evaluated_version": 1, "work_generation": 1,
         "conflicts": [c.as_json() for c in evaluation.conflicts],
         "roadmap_item_versions": {"RM-12": 3}, "policy_version": POLICY.version}
    )  # fmt: skip


def test_which_severities_need_signoff_comes_from_the_policy():
    blockers_only = Policy(version="blockers-only", signoff_severities=frozenset({"blocker"}))
    warned = promise(promised_by=PLANNED_END + timedelta(days=5))

    evaluation = evaluate(warned, roadmap(), blockers_only)

    assert [(c.code, c.needs_signoff) for c in evaluation.conflicts] == [("date_at_risk", False)]
    assert evaluation.needs_signoff is False
    assert evaluation.fingerprint == conflict_fingerprint([])
    assert evaluation.policy_version == "blockers-only"


def test_the_fingerprint_ignores_messages_order_and_repeats_but_not_the_dates():
    facts = [
        ("date_at_risk", "warning", "RM-12", PLANNED_END, date(2027, 3, 5)),
        ("non_goal", "blocker", "RM-12", None, None),
    ]

    assert conflict_fingerprint(facts) == conflict_fingerprint([*reversed(facts), facts[0]])
    assert conflict_fingerprint(facts) != conflict_fingerprint(
        [(*facts[0][:3], PLANNED_END + timedelta(days=1), date(2027, 3, 5)), facts[1]]
    )
    # Dates count only for the date codes.
    assert conflict_fingerprint([("non_goal", "blocker", "RM-12", PLANNED_END, None)]) == (
        conflict_fingerprint([facts[1]])
    )


def test_the_fingerprint_tells_apart_every_fact_it_names():
    """DESIGN.md: for each conflict its code, severity and item key, and for the date codes
    the planned_end and promised_by it saw."""
    seen = ("date_at_risk", "warning", "RM-12", PLANNED_END, date(2027, 3, 5))
    changed = [
        ("date_before_plan", *seen[1:]),
        (seen[0], "blocker", *seen[2:]),
        (*seen[:2], "RM-13", *seen[3:]),
        (*seen[:2], None, *seen[3:]),
        (*seen[:3], PLANNED_END + timedelta(days=1), seen[4]),
        (*seen[:3], None, seen[4]),
        (*seen[:4], date(2027, 3, 6)),
        (*seen[:4], None),
    ]

    prints = [conflict_fingerprint([facts]) for facts in [seen, *changed]]
    assert len(set(prints)) == len(prints)


def test_the_fingerprint_format_changes_only_on_purpose():
    """Every evaluation stores its fingerprint, and one equal to the current one changes
    nothing: a new format makes every stored fingerprint stale at once."""
    facts = [
        ("unscheduled", "blocker", "RM-12", None, date(2027, 6, 1)),
        ("date_at_risk", "warning", "RM-3", date(2027, 3, 1), None),
        ("custom_work", "blocker", None, None, None),
    ]
    lines = [
        "custom_work|blocker|",
        "date_at_risk|warning|RM-3|2027-03-01|",
        "unscheduled|blocker|RM-12||2027-06-01",
    ]

    assert conflict_fingerprint(facts) == hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert conflict_fingerprint([]) == hashlib.sha256(b"").hexdigest()


# Properties -----------------------------------------------------------------------------

days = st.integers(min_value=-400, max_value=400).map(lambda n: PLANNED_END + timedelta(days=n))
tag_lists = st.lists(st.sampled_from([*TAGS, "unknown-tag"]), max_size=3, unique=True).map(tuple)
items = st.builds(
    item,
    status=st.sampled_from(["idea", "planned", "in_progress", "shipped", "declined"]),
    planned_end=st.none() | days,
    confidence=st.sampled_from(["low", "medium", "high"]),
    vision_tags=tag_lists,
)
promises = st.builds(
    promise,
    kind=st.sampled_from(["feature", "integration", "custom_work", "date", "other"]),
    roadmap_item_key=st.sampled_from([None, "RM-12", "RM-99"]),
    promised_by=st.none() | days,
    tags=tag_lists,
)
policies = st.builds(
    Policy,
    date_margin_days=st.integers(min_value=0, max_value=90),
    signoff_severities=st.sampled_from(
        [frozenset({"blocker", "warning"}), frozenset({"blocker"}), frozenset()]
    ),
)


@given(promises, items, policies)
def test_the_same_inputs_give_the_same_evaluation(commitment, linked, policy):
    first = evaluate(commitment, roadmap(linked), policy)
    again = evaluate(commitment, roadmap(linked), policy)

    assert first == again
    assert len({c.code for c in first.conflicts}) == len(first.conflicts)


@given(promises, items, policies)
def test_a_conflict_added_never_clears_a_commitment(commitment, linked, policy):
    """Making the promise riskier (a non-goal tag, a declined item, an earlier promise, a
    slipped plan) never leaves it with nothing needing sign-off when it had something."""
    before = evaluate(commitment, roadmap(linked), policy)
    riskier = [
        (replace(commitment, tags=(*commitment.tags, "on-prem")), linked),
        (commitment, replace(linked, status="declined")),
    ]
    if commitment.promised_by is not None:
        earlier = commitment.promised_by - timedelta(days=7)
        riskier.append((replace(commitment, promised_by=earlier), linked))
    if linked.planned_end is not None:
        slipped = linked.planned_end + timedelta(days=7)
        riskier.append((commitment, replace(linked, planned_end=slipped)))
    for changed, changed_item in riskier:
        after = evaluate(changed, roadmap(changed_item), policy)
        if before.needs_signoff:
            assert after.needs_signoff


@given(promises, items, policies)
def test_signoff_follows_the_policys_severities(commitment, linked, policy):
    evaluation = evaluate(commitment, roadmap(linked), policy)

    for conflict in evaluation.conflicts:
        assert conflict.needs_signoff is (conflict.severity in policy.signoff_severities)


@given(promises, items, policies)
def test_what_the_gateway_finds_the_commitments_service_takes_and_fingerprints_alike(
    commitment, linked, policy
):
    """The contract between the two apps: every conflict the rules produce is a valid
    evaluation for the commitments service, which derives the same fingerprint from it."""
    evaluation = evaluate(commitment, roadmap(linked), policy)
    recorded = EvaluationCreate.model_validate(
        {
            "claim_token": "0" * 32,
            "evaluated_version": 1,
            "work_generation": 1,
            "conflicts": [conflict.as_json() for conflict in evaluation.conflicts],
            "roadmap_item_versions": dict(evaluation.roadmap_item_versions),
            "policy_version": evaluation.policy_version,
        }
    )

    needing = [
        SignoffConflict(c.code.value, c.severity.value, c.evidence.item_key,
                        c.evidence.planned_end, c.evidence.promised_by)
        for c in recorded.conflicts
        if c.needs_signoff
    ]  # fmt: skip
    assert fingerprint(needing) == evaluation.fingerprint


@given(promises, items, policies)
def test_every_conflict_on_a_linked_item_carries_its_key_and_date_codes_their_dates(
    commitment, linked, policy
):
    evaluation = evaluate(commitment, roadmap(linked), policy)

    for conflict in evaluation.conflicts:
        if commitment.roadmap_item_key is not None:
            assert conflict.evidence["item_key"] == commitment.roadmap_item_key
        if conflict.code in DATE_CODES:
            assert conflict.evidence["planned_end"] == linked.planned_end
            assert conflict.evidence["promised_by"] == commitment.promised_by


def test_the_area_that_reviews_a_promise_is_its_items_else_the_triage_area():
    policy = Policy(triage_area="deal-desk")
    assert policy.review_area(item(area="identity")) == "identity"
    assert policy.review_area(item(area=None)) == "deal-desk"
    assert policy.review_area(item(area="")) == "deal-desk"
    assert policy.review_area(None) == "deal-desk"
