"""Which event a change calls for, and when a sign-off alert is due (pure; the mutation
run's tests for services/commitments/event_rules.py)."""

from datetime import timedelta

import pytest

from kit.contracts.commitments import ReviewStatus
from kit.contracts.events import EventType
from services.commitments.event_rules import commitment_event, due_threshold, thresholds

S, E = ReviewStatus, EventType


# Which status change calls for which event (pure) --------------------------------------


@pytest.mark.parametrize(
    ("status", "announced", "reopened", "expected"),
    [
        (S.received, None, False, None),
        (S.evaluation_pending, S.approved, False, None),
        (S.needs_signoff, None, False, E.commitment_flagged),
        (S.needs_signoff, S.rejected, False, E.commitment_flagged),
        (S.needs_signoff, S.approved, True, E.commitment_reopened),
        (S.needs_signoff, S.cleared, True, E.commitment_reopened),
        (S.needs_signoff, S.needs_signoff, True, None),
        (S.cleared, None, False, E.commitment_cleared),
        (S.cleared, S.needs_signoff, False, E.commitment_cleared),
        (S.cleared, S.cleared, False, None),
        (S.approved, S.needs_signoff, False, E.commitment_approved),
        (S.approved, S.approved, False, None),
        (S.rejected, S.needs_signoff, False, E.commitment_rejected),
        (S.withdrawn, S.cleared, False, E.commitment_withdrawn),
        (S.withdrawn, S.withdrawn, False, None),
        (S.needs_attention, S.approved, False, E.commitment_needs_attention),
        (S.needs_attention, None, False, E.commitment_needs_attention),
        (S.needs_attention, S.needs_attention, False, None),
        (S.info_requested, S.needs_signoff, False, E.commitment_info_requested),
        (S.info_requested, S.info_requested, False, None),
        # Not said to be answered: back in the queue another way (a recall, a CRM change).
        (S.needs_signoff, S.info_requested, False, E.commitment_flagged),
    ],
)
def test_an_event_goes_out_only_when_what_was_told_changes(status, announced, reopened, expected):
    assert commitment_event(status, announced, reopened=reopened) is expected


@pytest.mark.parametrize(
    ("status", "announced", "reopened", "answered", "expected"),
    [
        (S.needs_signoff, S.info_requested, False, True, E.commitment_answered),
        (S.needs_signoff, S.info_requested, True, True, E.commitment_answered),
        # Back in the queue some other way (the CRM changed it meanwhile): flagged anew.
        (S.needs_signoff, S.info_requested, False, False, E.commitment_flagged),
        (S.needs_signoff, S.approved, True, True, E.commitment_reopened),
        (S.needs_signoff, S.needs_signoff, False, True, None),
        (S.approved, S.info_requested, False, True, E.commitment_approved),
    ],
)
def test_an_answer_is_told_only_when_it_ends_a_question(
    status, announced, reopened, answered, expected
):
    assert commitment_event(status, announced, reopened=reopened, answered=answered) is expected


def test_thresholds_are_the_reminders_then_overdue():
    assert thresholds([0.9, 0.5, 0.5]) == [500, 900, 1000]
    assert thresholds([]) == [1000]
    assert thresholds([0.0004, 0.001]) == [1, 1000]  # what rounds to nothing is no reminder
    sla, steps = timedelta(hours=48), [500, 900, 1000]
    assert due_threshold(timedelta(hours=23), sla, steps, told=0) is None
    assert due_threshold(timedelta(hours=24), sla, steps, told=0) == 500
    assert due_threshold(timedelta(hours=24), sla, steps, told=500) is None
    assert due_threshold(timedelta(hours=47), sla, steps, told=500) == 900
    assert due_threshold(timedelta(hours=50), sla, steps, told=0) == 1000  # only the latest
    assert due_threshold(timedelta(hours=50), sla, steps, told=1000) is None
