"""What every report shares: the commitments its filters match, money as text, and the week
a time falls in."""

from decimal import Decimal

from sqlalchemy import ColumnElement, String, exists, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from kit.contracts.reports import ReportFilters
from services.commitments.tables import commitments, deals, evaluations

# Aliases, so a filter's subquery never correlates with a report's own deals or evaluations.
_deal = deals.alias("filtered_deal")
_evaluation = evaluations.alias("filtered_evaluation")


def matching(filters: ReportFilters) -> list[ColumnElement[bool]]:
    """Conditions on `commitments` for the filters given; none when none is."""
    c = commitments.c
    conditions: list[ColumnElement[bool]] = []
    if filters.owner is not None:
        conditions.append(c.deal_owner == filters.owner)
    if filters.currency is not None:
        conditions.append(c.deal_currency == filters.currency)
    if filters.received_from is not None:
        conditions.append(c.created_at >= filters.received_from)
    if filters.received_until is not None:
        conditions.append(c.created_at < filters.received_until)
    of_deal = []
    if filters.source is not None:
        of_deal.append(_deal.c.source == filters.source.value)
    if filters.close_from is not None:
        of_deal.append(_deal.c.expected_close >= filters.close_from)
    if filters.close_to is not None:
        of_deal.append(_deal.c.expected_close <= filters.close_to)
    if of_deal:
        conditions.append(exists().where(_deal.c.id == c.deal_id, *of_deal))
    if filters.area is not None:
        # Areas match in any case, as the reviewers directory and the audit match them.
        conditions.append(
            exists().where(
                _evaluation.c.id == c.current_evaluation_id,
                func.lower(_evaluation.c.review_area) == filters.area.lower(),
            )
        )
    return conditions


def money(cents: int | Decimal | None) -> str:
    return f"{Decimal(cents or 0) / 100:.2f}"


class week_start(FunctionElement[str]):
    """The Monday (UTC) of the week a UTC timestamp column falls in, as `YYYY-MM-DD`."""

    type = String()
    inherit_cache = True


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler, **kw) -> str:
    # Stored as UTC text; 'weekday 0' moves to the coming Sunday (or stays on one).
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler, **kw) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char(date_trunc('week', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
