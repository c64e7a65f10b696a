"""The dashboards' reports, one module each; every one narrowed by the same filters
(scope.py) and answered in the shapes of kit.contracts.reports."""

from services.commitments.reports.aging import aging
from services.commitments.reports.figures import conflicts, summary
from services.commitments.reports.ledger import ledger
from services.commitments.reports.trend import trend

__all__ = ["aging", "conflicts", "ledger", "summary", "trend"]
