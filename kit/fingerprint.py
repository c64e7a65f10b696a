"""The fingerprint of an evaluation (DESIGN.md "Conflict rules"), shared so the gateway that
evaluates and the service that records agree on it to the bit.

It identifies the conflicts that need sign-off: for each, its code, severity and roadmap
item key, and for the date codes the `planned_end` and `promised_by` it saw. Messages,
suggestions, order and repeats do not count.
"""

import hashlib
from collections.abc import Iterable
from datetime import date

DATE_CODES = frozenset({"unscheduled", "date_before_plan", "date_at_risk"})

# (code, severity, item key, planned_end, promised_by) of one conflict needing sign-off.
SignoffFacts = tuple[str, str, str | None, date | None, date | None]


def conflict_fingerprint(needing_signoff: Iterable[SignoffFacts]) -> str:
    parts = set()
    for code, severity, item_key, planned_end, promised_by in needing_signoff:
        fields = [code, severity, item_key or ""]
        if code in DATE_CODES:
            fields += [str(planned_end or ""), str(promised_by or "")]
        parts.add("|".join(fields))
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()
