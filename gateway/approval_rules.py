"""The policy's approval rules: which chain of approvals a flagged promise goes through,
chosen from what the deal and the promise are. Pure: no I/O.

Rules are tried in order; the first whose every condition holds chooses the chain. A
condition left empty holds for anything. With no rule holding (or none set), the chain is
one step: a reviewer of the promise's area.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kit.contracts.approvals import Chain, ChainStep, default_chain
from kit.contracts.commitments import AMOUNT_PATTERN, CommitmentKind, ConflictCode, Source
from kit.contracts.reviewers import same_area
from kit.types import text

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Threshold = Annotated[str, StringConstraints(pattern=AMOUNT_PATTERN)]


class RuleMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_amount: dict[Currency, Threshold] = Field(
        default_factory=dict,
        description='Deals of at least this amount, per currency ({"USD": "100000"}); a deal '
        "in a currency not named does not match. Amounts are never converted.",
    )
    kinds: list[CommitmentKind] = Field(default_factory=list)
    conflict_codes: list[ConflictCode] = Field(
        default_factory=list, description="Any of these among the conflicts needing sign-off."
    )
    sources: list[Source] = Field(default_factory=list)
    areas: list[text(64, min_length=1, strip=True)] = Field(  # type: ignore[valid-type]
        default_factory=list, description="The area reviewing the promise."
    )


class ApprovalRule(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "large-deals", "when": {"min_amount": {"USD": "100000", "EUR": "90000"}},
                 "steps": [{"name": "area reviewer"},
                           {"name": "product lead", "approvers": ["lead@example.com"]}]}
            ]
        },
    )  # fmt: skip

    name: text(64, min_length=1, strip=True)  # type: ignore[valid-type]
    when: RuleMatch = Field(default_factory=RuleMatch)
    steps: Chain


@dataclass(frozen=True)
class Subject:
    """What the rules read of a flagged promise and its deal."""

    source: str
    currency: str
    amount: Decimal
    kind: str
    conflict_codes: frozenset[str]  # of the conflicts needing sign-off
    area: str | None


def matches(rule: ApprovalRule, subject: Subject) -> bool:
    when = rule.when
    if when.min_amount:
        threshold = when.min_amount.get(subject.currency)
        if threshold is None or subject.amount < Decimal(threshold):
            return False
    if when.kinds and subject.kind not in when.kinds:
        return False
    if when.conflict_codes and not subject.conflict_codes & set(when.conflict_codes):
        return False
    if when.sources and subject.source not in when.sources:
        return False
    return not when.areas or (
        subject.area is not None and any(same_area(subject.area, area) for area in when.areas)
    )


def choose(rules: Sequence[ApprovalRule], subject: Subject) -> tuple[str | None, list[ChainStep]]:
    """The first rule that matches, and its chain; (None, one area step) when none does."""
    for rule in rules:
        if matches(rule, subject):
            return rule.name, list(rule.steps)
    return None, default_chain()
