"""What a CRM event does to a deal's commitments (the pure plan; storage comes later)."""

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.commitments.intake import (
    CommitmentContent,
    DealStage,
    IncomingCommitment,
    PlannedChange,
    StoredCommitment,
    placeholder,
    plan_intake,
)
from services.commitments.lifecycle import Event, ReviewStatus, apply

OPEN, LOST = DealStage.open, DealStage.closed_lost


def sso(**overrides: object) -> IncomingCommitment:
    values: dict[str, object] = {
        "external_id": "C-1", "kind": "feature", "summary": "SSO with Okta",
        "roadmap_item_key": "RM-12", "promised_by": date(2027, 3, 1),
        "tags": ("enterprise-security",),
    }  # fmt: skip
    return IncomingCommitment(**{**values, **overrides})


def apply_plan(
    stored: dict[str, StoredCommitment], plan: list[PlannedChange]
) -> dict[str, StoredCommitment]:
    """What the service does with a plan, in memory."""
    after = dict(stored)
    for change in plan:
        previous = after.get(change.external_id)
        status = previous.review_status if previous else ReviewStatus.received
        for event in change.events:
            status = apply(status, event).status
        content = change.content or previous.content
        after[change.external_id] = StoredCommitment(change.external_id, content, status)
    return after


def deliver(
    stored: dict[str, StoredCommitment],
    incoming: list[IncomingCommitment],
    *,
    snapshot: bool = True,
    stage: DealStage = OPEN,
) -> dict[str, StoredCommitment]:
    return apply_plan(stored, plan_intake(stored, incoming, snapshot=snapshot, deal_stage=stage))


def settle(stored: dict[str, StoredCommitment], status: ReviewStatus) -> dict:
    return {key: replace(value, review_status=status) for key, value in stored.items()}


def test_a_new_commitment_is_created_received_with_the_crm_link():
    [change] = plan_intake({}, [sso()], snapshot=True, deal_stage=OPEN)

    assert (change.action, change.events) == ("create", ())
    assert change.content.roadmap_item_key == "RM-12"
    assert change.content.link_source == "crm"


def test_an_unchanged_commitment_is_left_alone():
    stored = settle(deliver({}, [sso()]), ReviewStatus.approved)

    assert plan_intake(stored, [sso(tags=("enterprise-security",) * 2)], snapshot=True,
                       deal_stage=OPEN) == []  # fmt: skip


def test_changed_content_is_evaluated_afresh():
    stored = settle(deliver({}, [sso()]), ReviewStatus.approved)

    after = deliver(stored, [sso(promised_by=date(2027, 2, 1))])

    assert after["C-1"].review_status is ReviewStatus.received
    assert after["C-1"].content.promised_by == date(2027, 2, 1)


def test_a_snapshot_withdraws_what_it_does_not_list_and_a_partial_event_does_not():
    stored = settle(deliver({}, [sso(), sso(external_id="C-2")]), ReviewStatus.cleared)

    partial = deliver(stored, [sso()], snapshot=False)
    full = deliver(stored, [sso()], snapshot=True)

    assert partial["C-2"].review_status is ReviewStatus.cleared
    assert full["C-2"].review_status is ReviewStatus.withdrawn
    assert full["C-1"].review_status is ReviewStatus.cleared


def test_a_withdrawn_commitment_sent_again_comes_back():
    stored = deliver(deliver({}, [sso(), sso(external_id="C-2")]), [sso()])
    assert stored["C-2"].review_status is ReviewStatus.withdrawn

    after = deliver(stored, [sso(), sso(external_id="C-2")])

    assert after["C-2"].review_status is ReviewStatus.received


def test_a_lost_deal_withdraws_everything_new_ones_included():
    stored = settle(deliver({}, [sso()]), ReviewStatus.needs_signoff)

    after = deliver(stored, [sso(), sso(external_id="C-3")], snapshot=False, stage=LOST)

    assert {key: value.review_status for key, value in after.items()} == {
        "C-1": ReviewStatus.withdrawn,
        "C-3": ReviewStatus.withdrawn,
    }
    assert plan_intake(after, [sso()], snapshot=True, deal_stage=LOST) == []


def test_a_pm_link_stands_until_the_crm_sends_a_different_key():
    stored = settle(deliver({}, [sso()]), ReviewStatus.approved)
    stored["C-1"] = replace(stored["C-1"], content=pm_linked(stored["C-1"].content, "RM-9"))

    same_key = deliver(stored, [sso()])
    no_key = deliver(stored, [sso(roadmap_item_key=None)])
    other_key = deliver(stored, [sso(roadmap_item_key="RM-40")])

    assert same_key["C-1"].content.roadmap_item_key == "RM-9"
    assert same_key["C-1"].review_status is ReviewStatus.approved
    assert no_key["C-1"].content.roadmap_item_key == "RM-9"
    assert no_key["C-1"].review_status is ReviewStatus.approved  # bookkeeping only
    assert other_key["C-1"].content.roadmap_item_key == "RM-40"
    assert other_key["C-1"].content.link_source == "crm"
    assert other_key["C-1"].review_status is ReviewStatus.received


def test_a_pm_link_survives_the_crm_passing_through_an_empty_key():
    stored = settle(deliver({}, [sso()]), ReviewStatus.approved)
    stored["C-1"] = replace(stored["C-1"], content=pm_linked(stored["C-1"].content, "RM-9"))

    after = deliver(deliver(stored, [sso(roadmap_item_key=None)]), [sso()])

    assert after["C-1"].content.roadmap_item_key == "RM-9"
    assert after["C-1"].review_status is ReviewStatus.approved


def test_the_crm_clearing_its_own_key_unlinks():
    stored = settle(deliver({}, [sso()]), ReviewStatus.cleared)

    after = deliver(stored, [sso(roadmap_item_key="")])

    assert after["C-1"].content.roadmap_item_key is None
    assert after["C-1"].review_status is ReviewStatus.received


def test_what_is_stored_is_what_the_crm_sent_and_a_change_is_an_update():
    [created] = plan_intake(
        {}, [sso(tags=("sso", "enterprise-security", "sso"))], snapshot=True, deal_stage=OPEN
    )
    stored = settle(apply_plan({}, [created]), ReviewStatus.approved)
    changed = sso(kind="integration", summary="SSO with Okta and SCIM", tags=("scim",))

    [updated] = plan_intake(stored, [changed], snapshot=True, deal_stage=OPEN)

    assert created == PlannedChange(
        "C-1",
        "create",
        CommitmentContent(
            kind="feature",
            summary="SSO with Okta",
            promised_by=date(2027, 3, 1),
            tags=("enterprise-security", "sso"),
            roadmap_item_key="RM-12",
            link_source="crm",
            crm_roadmap_item_key="RM-12",
        ),
        (),
    )
    assert updated == PlannedChange(
        "C-1",
        "update",
        replace(
            created.content, kind="integration", summary="SSO with Okta and SCIM", tags=("scim",)
        ),
        (Event.crm_changed,),
    )


def test_the_crm_sending_the_key_a_pm_linked_takes_the_link_over_without_a_re_check():
    stored = settle(deliver({}, [sso(roadmap_item_key=None)]), ReviewStatus.approved)
    stored["C-1"] = replace(stored["C-1"], content=pm_linked(stored["C-1"].content, "RM-9"))

    plan = plan_intake(stored, [sso(roadmap_item_key="RM-9")], snapshot=True, deal_stage=OPEN)

    taken_over = replace(stored["C-1"].content, link_source="crm", crm_roadmap_item_key="RM-9")
    assert plan == [PlannedChange("C-1", "update", taken_over, ())]


def test_a_withdrawal_is_planned_as_one():
    stored = settle(deliver({}, [sso(), sso(external_id="C-2")]), ReviewStatus.cleared)

    plan = plan_intake(stored, [sso()], snapshot=True, deal_stage=OPEN)

    assert plan == [PlannedChange("C-2", "withdraw", None, (Event.withdrawn,))]


incoming_commitments = st.builds(
    IncomingCommitment,
    external_id=st.sampled_from(["C-1", "C-2", "C-3"]),
    kind=st.sampled_from(["feature", "integration", "custom_work"]),
    summary=st.sampled_from(["SSO", "SCIM", "On-prem install"]),
    roadmap_item_key=st.sampled_from([None, "", "RM-1", "RM-2"]),
    promised_by=st.sampled_from([None, date(2027, 1, 1), date(2027, 6, 1)]),
    tags=st.lists(st.sampled_from(["a", "b"]), max_size=3).map(tuple),
)
events = st.tuples(
    st.lists(incoming_commitments, max_size=3, unique_by=lambda c: c.external_id),
    st.booleans(),
    st.sampled_from(list(DealStage)),
)
statuses = st.sampled_from(list(ReviewStatus))


@given(st.lists(events, max_size=4), events, statuses)
def test_a_duplicate_delivery_changes_nothing_more(history, event, settled_as):
    stored: dict[str, StoredCommitment] = {}
    for incoming, snapshot, stage in history:
        stored = settle(deliver(stored, incoming, snapshot=snapshot, stage=stage), settled_as)
    incoming, snapshot, stage = event

    once = deliver(stored, incoming, snapshot=snapshot, stage=stage)

    assert plan_intake(once, incoming, snapshot=snapshot, deal_stage=stage) == []


def pm_linked(content: CommitmentContent, key: str) -> CommitmentContent:
    """What a PM's link stores (services.commitments.reviews.relink)."""
    return replace(content, roadmap_item_key=key, link_source="pm")


def test_a_commitment_marked_withdrawn_is_withdrawn_alone_even_in_a_partial_event():
    stored = settle(deliver({}, [sso(), sso(external_id="C-2")]), ReviewStatus.needs_signoff)

    after = deliver(stored, [sso(withdrawn=True)], snapshot=False)
    again = plan_intake(after, [sso(withdrawn=True)], snapshot=False, deal_stage=OPEN)
    new = deliver({}, [sso(external_id="C-9", withdrawn=True)], snapshot=False)
    back = deliver(after, [sso()], snapshot=False)

    assert after["C-1"].review_status is ReviewStatus.withdrawn
    assert after["C-2"].review_status is ReviewStatus.needs_signoff
    assert again == []  # already withdrawn: nothing to do
    assert new["C-9"].review_status is ReviewStatus.withdrawn
    assert back["C-1"].review_status is ReviewStatus.received  # sent again, not withdrawn


def unreadable(external_id: str = "C-1", problem: str = "kind: 'featur' is not a kind"):
    return IncomingCommitment(external_id=external_id, kind="", summary="", problem=problem)


def test_an_unreadable_record_needs_attention_and_keeps_what_was_held():
    stored = settle(deliver({}, [sso(), sso(external_id="C-2")]), ReviewStatus.approved)

    plan = plan_intake(stored, [unreadable(), sso(external_id="C-2")], snapshot=True,
                       deal_stage=OPEN)  # fmt: skip
    after = apply_plan(stored, plan)

    assert [(c.external_id, c.action, c.content, c.events, c.problem) for c in plan] == [
        ("C-1", "update", None, (Event.crm_unreadable,), "kind: 'featur' is not a kind")
    ]  # the snapshot withdraws neither; C-2 is unchanged
    assert after["C-1"].review_status is ReviewStatus.needs_attention
    assert after["C-1"].content == stored["C-1"].content
    assert after["C-2"].review_status is ReviewStatus.approved


def test_a_new_unreadable_record_is_created_needing_attention_with_a_placeholder():
    (change,) = plan_intake({}, [unreadable("C-7", "promised_by: not a date")],
                            snapshot=True, deal_stage=OPEN)  # fmt: skip

    assert (change.external_id, change.action) == ("C-7", "create")
    assert change.events == (Event.crm_unreadable,)
    assert change.problem == "promised_by: not a date"
    assert change.content == CommitmentContent(
        kind="other",
        summary="Unreadable in the CRM: promised_by: not a date",
        promised_by=None,
        tags=(),
        roadmap_item_key=None,
        link_source=None,
        crm_roadmap_item_key=None,
    )


def test_the_placeholder_summary_fits_the_summary_column():
    assert len(placeholder("x" * 3000).summary) == 2000


def test_an_unreadable_record_does_not_stop_the_plan_for_those_after_it():
    plan = plan_intake({}, [unreadable("C-1"), sso(external_id="C-2")], snapshot=True,
                       deal_stage=OPEN)  # fmt: skip

    assert [(c.external_id, c.action) for c in plan] == [("C-1", "create"), ("C-2", "create")]


def test_the_same_problem_again_changes_nothing_and_another_is_recorded():
    stored = {"C-1": StoredCommitment("C-1", placeholder("x"), ReviewStatus.needs_attention,
                                      "kind: 'featur' is not a kind")}  # fmt: skip

    same = plan_intake(stored, [unreadable()], snapshot=True, deal_stage=OPEN)
    other = plan_intake(stored, [unreadable(problem="promised_by: not a date")],
                        snapshot=True, deal_stage=OPEN)  # fmt: skip

    assert same == []
    assert [(c.events, c.problem) for c in other] == [
        ((Event.crm_unreadable,), "promised_by: not a date")
    ]


def test_fixed_in_the_crm_it_is_evaluated_afresh_even_with_the_content_held_before():
    held = deliver({}, [sso()])
    broken = apply_plan(held, plan_intake(held, [unreadable()], snapshot=True, deal_stage=OPEN))

    (fixed,) = plan_intake(broken, [sso()], snapshot=True, deal_stage=OPEN)

    assert (fixed.action, fixed.events, fixed.problem) == ("update", (Event.crm_changed,), None)
    assert apply_plan(broken, [fixed])["C-1"].review_status is ReviewStatus.received


def test_a_lost_deal_withdraws_unreadable_records_too():
    broken = {"C-1": StoredCommitment("C-1", placeholder("x"), ReviewStatus.needs_attention, "x")}

    (withdrawn,) = plan_intake(broken, [unreadable(problem="x")], snapshot=True, deal_stage=LOST)
    (new,) = plan_intake({}, [unreadable("C-2")], snapshot=True, deal_stage=LOST)
    again = plan_intake(
        {"C-1": replace(broken["C-1"], review_status=ReviewStatus.withdrawn)},
        [unreadable(problem="x")], snapshot=True, deal_stage=LOST,
    )  # fmt: skip

    assert withdrawn == PlannedChange("C-1", "update", None, (Event.withdrawn,), "x")
    assert (new.external_id, new.action, new.events) == ("C-2", "create", (Event.withdrawn,))
    assert again == []
