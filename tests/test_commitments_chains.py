"""How far a commitment has come along its approval chain: chains.progress, pure."""

from dataclasses import replace
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from kit.contracts.approvals import ChainStep, default_chain
from services.commitments.chains import Decision, progress, standing
from services.commitments.lifecycle import SignoffConflict

CUSTOM = SignoffConflict("custom_work", "blocker", None)
DECLINED = SignoffConflict("item_declined", "blocker", "RM-9")
AREA = ChainStep(name="area reviewer")
LEAD = ChainStep(name="product lead", approvers=["lead@example.com", "cpo@example.com"])
BOTH = ChainStep(name="leads", approvers=["lead@example.com", "cpo@example.com"], require="all")


def approval(step: str | None, by: str, *, role: str = "pm", **fields) -> Decision:
    values = {
        "decision": "approve", "step": step, "decided_by": by, "on_behalf_of": None,
        "role": role, "lapsed": False, "conflicts": (CUSTOM,),
    }  # fmt: skip
    return Decision(**{**values, **fields})


def rejection(step: str | None, by: str, **fields) -> Decision:
    return replace(approval(step, by, **fields), decision="reject")


def test_one_approval_completes_the_default_chain():
    assert not progress(default_chain(), [], [CUSTOM]).complete
    assert progress(default_chain(), [approval("area reviewer", "ana@x.io")], [CUSTOM]).complete


def test_an_approval_taken_before_chains_counts_for_the_first_step_only():
    found = progress([AREA, LEAD], [approval(None, "ana@x.io")], [CUSTOM])

    assert [step.done for step in found.steps] == [True, False]
    assert found.next_index == 1


def test_steps_go_in_order_and_the_chain_completes_with_the_last():
    decided = [approval("area reviewer", "ana@x.io")]
    halfway = progress([AREA, LEAD], decided, [CUSTOM])
    assert (halfway.next_index, halfway.complete) == (1, False)

    done = progress([AREA, LEAD], [*decided, approval("product lead", "cpo@example.com")], [CUSTOM])
    assert (done.next_index, done.complete) == (None, True)


def test_a_later_step_approved_first_leaves_the_turn_with_the_first():
    found = progress([AREA, LEAD], [approval("product lead", "lead@example.com")], [CUSTOM])

    assert found.next_index == 0
    assert [step.done for step in found.steps] == [False, True]
    assert not found.complete


def test_a_step_requiring_all_waits_for_each_named_approver():
    one = progress([BOTH], [approval("leads", "lead@example.com")], [CUSTOM])
    assert one.steps[0].awaiting == ("cpo@example.com",)
    assert not one.complete

    both = progress(
        [BOTH],
        [approval("leads", "lead@example.com"), approval("leads", "cpo@example.com")],
        [CUSTOM],
    )
    assert both.complete
    assert both.steps[0].awaiting == ()


def test_a_delegate_approves_for_the_approver_who_is_away():
    stood_in = approval("leads", "ben@example.com", on_behalf_of="cpo@example.com")
    found = progress([BOTH], [approval("leads", "lead@example.com"), stood_in], [CUSTOM])

    assert found.complete


def test_someone_not_named_does_not_complete_a_step_requiring_all():
    found = progress(
        [BOTH], [approval("leads", "lead@example.com"), approval("leads", "x@y.io")], [CUSTOM]
    )

    assert not found.complete


def test_an_admin_or_the_system_completes_the_step_they_approve_at():
    for role in ("admin", "system"):
        found = progress([BOTH], [approval("leads", "root@example.com", role=role)], [CUSTOM])
        assert found.complete, role


def test_a_rejection_ends_the_chain_and_what_follows_starts_a_new_one():
    decided = [
        approval("area reviewer", "ana@x.io"),
        rejection("product lead", "lead@example.com"),
    ]
    assert progress([AREA, LEAD], decided, [CUSTOM]).next_index == 0

    again = [*decided, approval("area reviewer", "ana@x.io")]
    assert progress([AREA, LEAD], again, [CUSTOM]).next_index == 1


def test_a_recalled_rejection_or_approval_does_not_count():
    first = approval("area reviewer", "ana@x.io")
    recalled_rejection = rejection("product lead", "lead@example.com", lapsed=True)
    assert progress([AREA, LEAD], [first, recalled_rejection], [CUSTOM]).next_index == 1

    recalled_approval = replace(first, lapsed=True)
    assert progress([AREA, LEAD], [recalled_approval], [CUSTOM]).next_index == 0

    given_again = approval("area reviewer", "ben@x.io")
    assert progress([AREA, LEAD], [recalled_approval, given_again], [CUSTOM]).next_index == 1


def test_only_the_steps_whose_approval_no_longer_covers_are_asked_again():
    """Step one approved custom work and the roadmap's decline of RM-9; step two only the
    custom work. The item is declined: step two's approval no longer covers."""
    decided = [
        approval("area reviewer", "ana@x.io", conflicts=(CUSTOM, DECLINED)),
        approval("product lead", "lead@example.com", conflicts=(CUSTOM,)),
    ]
    found = progress([AREA, LEAD], decided, [CUSTOM, DECLINED])

    assert [step.done for step in found.steps] == [True, False]
    assert found.next_index == 1
    assert found.steps[1].approvals == ()


def test_a_date_approval_covers_a_pull_in_but_not_a_slip_per_step():
    def on_rm12(end: int) -> SignoffConflict:
        return SignoffConflict(
            "date_at_risk", "blocker", "RM-12", date(2027, 1, end), date(2027, 1, 1)
        )

    decided = [approval("area reviewer", "ana@x.io", conflicts=(on_rm12(10),))]

    assert progress([AREA], decided, [on_rm12(5)]).complete
    assert not progress([AREA], decided, [on_rm12(20)]).complete


def test_steps_are_matched_by_name_when_a_later_evaluation_chooses_another_chain():
    decided = [approval("Product Lead", "lead@example.com")]
    found = progress([LEAD, AREA], decided, [CUSTOM])

    assert [step.done for step in found.steps] == [True, False]


def test_who_approved_which_step():
    decided = [
        approval("area reviewer", "ana@x.io"),
        approval("product lead", "ben@x.io", on_behalf_of="lead@example.com"),
    ]
    found = progress([AREA, LEAD], decided, [CUSTOM])

    assert found.approved_by("ana@x.io") == "area reviewer"
    assert found.approved_by("ben@x.io") == "product lead"
    assert found.approved_by("lead@example.com") == "product lead"  # through a delegate
    assert found.approved_by("cpo@example.com") is None


decisions = st.lists(
    st.builds(
        Decision,
        decision=st.sampled_from(["approve", "reject"]),
        step=st.sampled_from([None, "area reviewer", "product lead", "leads"]),
        decided_by=st.sampled_from(["ana@x.io", "lead@example.com", "cpo@example.com"]),
        on_behalf_of=st.none(),
        role=st.sampled_from(["pm", "pm", "admin"]),
        lapsed=st.booleans(),
        conflicts=st.sampled_from([(CUSTOM,), (CUSTOM, DECLINED), (DECLINED,)]),
    ),
    max_size=8,
)
chains_ = st.sampled_from([[AREA], [AREA, LEAD], [AREA, BOTH], [BOTH, AREA]])


@given(chain=chains_, decided=decisions, needing=st.sampled_from([[CUSTOM], [CUSTOM, DECLINED]]))
def test_a_complete_chain_has_a_standing_covering_approval_at_every_step(chain, decided, needing):
    found = progress(chain, decided, needing)
    kept = standing(decided)

    assert found.complete == (found.next_index is None)
    for step in found.steps:
        assert all(approval in kept for approval in step.approvals)
        if step.done:
            assert step.approvals


@given(chain=chains_, decided=decisions)
def test_a_recalled_or_stale_approval_never_completes_a_chain(chain, decided):
    before = progress(chain, decided, [CUSTOM, DECLINED])
    recalled = approval("area reviewer", "ana@x.io", role="admin", lapsed=True)
    stale = approval("area reviewer", "ana@x.io", role="admin", conflicts=(CUSTOM,))

    for added in (recalled, stale):
        after = progress(chain, [*decided, added], [CUSTOM, DECLINED])
        assert [s.done for s in after.steps] == [s.done for s in before.steps]
