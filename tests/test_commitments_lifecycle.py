"""The review lifecycle: every (status, event) pair, and when an approval still covers."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.contracts.commitments import ConflictCode
from kit.fingerprint import DATE_CODES
from services.commitments.lifecycle import (
    Event,
    ReviewStatus,
    SignoffConflict,
    TransitionRefused,
    apply,
    evaluation_event,
    uncovered,
)

# Restated from DESIGN.md (and the choices in lifecycle.py's docstring), independently of
# the module's own table. Rows: from-status; columns: the events below, in order.
# R received, P evaluation_pending, C cleared, N needs_signoff, A approved, X rejected,
# W withdrawn, F needs_attention (fix in the CRM), I info_requested (a question to the rep),
# "-" refused (409 for a PM decision, a question, an answer or a recall).
EVENTS = [
    "evaluated_clear", "evaluated_covered", "evaluated_uncovered", "roadmap_unreachable",
    "approve", "reject", "crm_changed", "relinked", "withdrawn", "crm_unreadable",
    "asked", "answered", "recalled", "step_approved", "conditions_expired", "reassigned",
]  # fmt: skip
# A step's approval (stp) keeps it awaiting; recalling one (rcl from N or I) leaves it so.
# Expired conditions (exp) reopen an approval, or ask one step again; reassigning (rsg) hands
# over a review under way.
MATRIX = {
    #                     clr cov unc unr app rej crm lnk wdr unr ask ans rcl stp exp rsg
    "received":           "C   A   N   P   -   -   R   R   W   F   -   -   -   -   -   -",
    "evaluation_pending": "C   A   N   P   -   -   R   R   W   F   -   -   -   -   -   -",
    "cleared":            "C   A   N   C   -   -   R   R   W   F   -   -   -   -   -   -",
    "needs_signoff":      "C   A   N   N   A   X   R   R   W   F   I   -   N   N   N   N",
    "info_requested":     "C   A   I   I   A   X   R   R   W   F   I   N   I   I   I   I",
    "approved":           "C   A   N   A   -   -   R   R   W   F   -   -   N   -   N   -",
    "rejected":           "X   X   X   X   -   -   R   -   W   F   -   -   N   -   -   -",
    "withdrawn":          "W   W   W   W   -   -   R   -   W   F   -   -   -   -   -   -",
    "needs_attention":    "F   F   F   F   -   -   R   -   W   F   -   -   -   -   -   -",
}  # fmt: skip
LETTERS = {
    "R": "received", "P": "evaluation_pending", "C": "cleared", "N": "needs_signoff",
    "A": "approved", "X": "rejected", "W": "withdrawn", "F": "needs_attention",
    "I": "info_requested", "-": "-",
}  # fmt: skip
EXPECTED = {status: [LETTERS[cell] for cell in row.split()] for status, row in MATRIX.items()}
PAIRS = [
    (status, event, EXPECTED[status][column])
    for status in EXPECTED
    for column, event in enumerate(EVENTS)
]


def test_the_table_covers_every_status_and_event():
    assert set(EXPECTED) == {status.value for status in ReviewStatus}
    assert set(EVENTS) == {event.value for event in Event}


@pytest.mark.parametrize(("status", "event", "expected"), PAIRS)
def test_every_transition(status, event, expected):
    if expected == "-":
        with pytest.raises(TransitionRefused) as refused:
            apply(ReviewStatus(status), Event(event))
        assert refused.value.reason
        assert str(refused.value) == (
            f"cannot {event} a commitment in {status}: {refused.value.reason}"
        )
        return
    assert apply(ReviewStatus(status), Event(event)).status == expected


@pytest.mark.parametrize(("status", "event", "expected"), PAIRS)
def test_reopened_means_a_settled_commitment_needs_signoff_again(status, event, expected):
    if expected == "-":
        return
    reopened = apply(ReviewStatus(status), Event(event)).reopened
    assert reopened == (status in ("cleared", "approved") and expected == "needs_signoff")


def _day(offset: int) -> date:
    return date(2027, 3, 1) + timedelta(days=offset)


def _date_conflict(code: str = "date_at_risk", end: int | None = 0, promised: int = 10):
    return SignoffConflict(
        code=code,
        severity="warning" if code == "date_at_risk" else "blocker",
        item_key="RM-12",
        planned_end=None if end is None else _day(end),
        promised_by=_day(promised),
    )


@pytest.mark.parametrize(
    ("found", "covered"),
    [
        (_date_conflict(end=0, promised=10), True),  # the same
        (_date_conflict(end=-5, promised=10), True),  # pulled in
        (_date_conflict(end=0, promised=20), True),  # promised later
        (_date_conflict(end=1, promised=10), False),  # slipped a day
        (_date_conflict(end=0, promised=9), False),  # promised a day earlier
        (_date_conflict(end=None, promised=10), False),  # now unscheduled
        (_date_conflict(code="date_before_plan", end=1), False),  # slipped past the promise
        (_date_conflict(code="date_before_plan", end=0, promised=-1), False),  # promised earlier
        (
            SignoffConflict(
                "date_at_risk", "warning", "RM-13", date(2027, 3, 1), date(2027, 3, 11)
            ),
            False,
        ),
    ],
)
def test_an_approval_covers_the_same_conflict_or_a_better_one(found, covered):
    approved = [_date_conflict(end=0, promised=10)]

    assert (uncovered(approved, [found]) == []) is covered


@pytest.mark.parametrize(
    ("approved", "found"),
    [
        # Promised 1 Mar, planned 1 Jun: approved. The item pulls in to 20 Feb.
        (
            _date_conflict("date_before_plan", end=92, promised=0),
            _date_conflict(end=-9, promised=0),
        ),
        # The same approval; the CRM moves the promise to 10 Jun.
        (
            _date_conflict("date_before_plan", end=92, promised=0),
            _date_conflict(end=92, promised=101),
        ),
        # Approved while unscheduled; the item gets a date.
        (
            _date_conflict("unscheduled", end=None, promised=0),
            _date_conflict("date_before_plan", end=30, promised=0),
        ),
    ],
)
def test_good_news_that_changes_the_date_code_stays_covered(approved, found):
    assert uncovered([approved], [found]) == []


def test_a_date_approval_does_not_cover_another_item_or_a_non_date_conflict():
    approved = [_date_conflict(end=0, promised=10)]

    assert uncovered(approved, [replace(approved[0], item_key="RM-13")])
    assert uncovered(approved, [SignoffConflict("item_declined", "blocker", "RM-12")])


NON_DATE_CODES = sorted(code.value for code in ConflictCode if code.value not in DATE_CODES)


@pytest.mark.parametrize("approved_code", NON_DATE_CODES)
@pytest.mark.parametrize(
    "found",
    [
        _date_conflict("unscheduled", end=None, promised=10),
        _date_conflict("date_before_plan", end=20, promised=10),
        _date_conflict("date_at_risk", end=0, promised=10),
    ],
    ids=lambda conflict: conflict.code,
)
def test_a_non_date_approval_does_not_cover_a_date_conflict_on_the_same_item(approved_code, found):
    """Approved for, say, a non-goal on RM-12; the CRM then adds a date RM-12 cannot meet.
    Nobody signed off that date: the approved commitment reopens."""
    approved = [SignoffConflict(approved_code, "blocker", "RM-12")]

    assert uncovered(approved, [found]) == [found]
    assert apply(ReviewStatus.approved, Event.evaluated_uncovered).reopened


signoff_conflicts = st.builds(
    SignoffConflict,
    code=st.sampled_from([code.value for code in ConflictCode]),
    severity=st.sampled_from(["blocker", "warning"]),
    item_key=st.sampled_from([None, "RM-12", "RM-13"]),
    planned_end=st.none() | st.integers(-3, 3).map(_day),
    promised_by=st.none() | st.integers(-3, 3).map(_day),
)


@given(approved=signoff_conflicts, found=signoff_conflicts)
def test_an_approval_covers_only_its_own_item_and_code_or_a_date_code_for_a_date_code(
    approved, found
):
    if not uncovered([approved], [found]):
        assert approved.item_key == found.item_key
        assert approved.code == found.code or {approved.code, found.code} <= DATE_CODES


@pytest.mark.parametrize(
    ("status", "event", "standing", "reopened"),
    [
        ("received", "evaluated_uncovered", True, True),  # a CRM edit, approval not covering
        ("evaluation_pending", "evaluated_uncovered", True, True),
        ("received", "evaluated_uncovered", False, False),  # first sign-off, not a reopening
        ("needs_signoff", "evaluated_uncovered", True, False),  # already open
        ("received", "evaluated_covered", True, False),
    ],
)
def test_reopened_counts_a_standing_approval(status, event, standing, reopened):
    transition = apply(ReviewStatus(status), Event(event), standing_approval=standing)

    assert transition.reopened is reopened


def test_non_date_conflicts_are_covered_by_code_and_item():
    approved = [SignoffConflict("non_goal", "blocker", "RM-11")]

    assert uncovered(approved, [SignoffConflict("non_goal", "blocker", "RM-11")]) == []
    assert uncovered(approved, [SignoffConflict("non_goal", "blocker", None)]) != []


def test_the_evaluation_event():
    conflict = SignoffConflict("custom_work", "blocker", None)

    assert evaluation_event([], chain_complete=False) is Event.evaluated_clear
    assert evaluation_event([], chain_complete=True) is Event.evaluated_clear
    assert evaluation_event([conflict], chain_complete=False) is Event.evaluated_uncovered
    assert evaluation_event([conflict], chain_complete=True) is Event.evaluated_covered


days = st.integers(min_value=-400, max_value=400)


@given(end=days, promised=days, slip=st.integers(1, 400), earlier=st.integers(1, 400))
def test_any_slip_or_earlier_promise_reopens(end, promised, slip, earlier):
    approved = [_date_conflict(end=end, promised=promised)]

    assert uncovered(approved, [_date_conflict(end=end + slip, promised=promised)])
    assert uncovered(approved, [_date_conflict(end=end, promised=promised - earlier)])
    assert not uncovered(approved, [_date_conflict(end=end - slip, promised=promised + earlier)])


@given(st.lists(st.sampled_from(["custom_work", "non_goal", "unlinked", "off_vision"]), max_size=4))
def test_adding_a_conflict_never_turns_uncovered_into_covered(codes):
    approved = [SignoffConflict(code, "blocker", None) for code in codes]
    found = [*approved, SignoffConflict("item_declined", "blocker", "RM-9")]

    assert uncovered(approved, found) == [found[-1]]
