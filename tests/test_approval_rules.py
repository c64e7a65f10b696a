"""Which approval chain the policy's rules choose (gateway/approval_rules.py, pure)."""

from decimal import Decimal

import pytest

from gateway.approval_rules import ApprovalRule, Subject, choose, matches

LEAD = [{"name": "area reviewer"}, {"name": "lead", "approvers": ["lead@example.com"]}]


def rule(name: str = "r", **when) -> ApprovalRule:
    return ApprovalRule.model_validate({"name": name, "when": when, "steps": LEAD})


def subject(**fields) -> Subject:
    values = {
        "source": "generic", "currency": "USD", "amount": Decimal("250000.00"), "kind": "feature",
        "conflict_codes": frozenset({"date_before_plan"}), "area": "identity",
    }  # fmt: skip
    return Subject(**{**values, **fields})


def test_no_rule_means_one_step_by_the_area():
    name, steps = choose([], subject())
    assert name is None
    assert [(s.name, s.approvers, s.require) for s in steps] == [("area reviewer", [], "any")]


def test_the_first_rule_that_holds_chooses():
    rules = [rule("never", kinds=["custom_work"]), rule("first"), rule("second")]
    name, steps = choose(rules, subject())
    assert name == "first"
    assert [s.name for s in steps] == ["area reviewer", "lead"]


@pytest.mark.parametrize(
    ("amount", "currency", "holds"),
    [
        ("100000.00", "USD", True),  # the threshold itself
        ("99999.99", "USD", False),
        ("90000.00", "EUR", True),
        ("89999.99", "EUR", False),
        ("1000000.00", "GBP", False),  # a currency not named: never converted
    ],
)
def test_an_amount_threshold_is_per_currency(amount, currency, holds):
    large = rule(min_amount={"USD": "100000", "EUR": "90000"})
    assert matches(large, subject(amount=Decimal(amount), currency=currency)) is holds


@pytest.mark.parametrize(
    ("when", "fields", "holds"),
    [
        ({"kinds": ["feature", "integration"]}, {"kind": "integration"}, True),
        ({"kinds": ["feature"]}, {"kind": "custom_work"}, False),
        ({"conflict_codes": ["non_goal", "date_before_plan"]}, {}, True),
        ({"conflict_codes": ["non_goal"]}, {}, False),
        ({"conflict_codes": ["non_goal"]}, {"conflict_codes": frozenset()}, False),
        ({"sources": ["hubspot"]}, {"source": "hubspot"}, True),
        ({"sources": ["hubspot"]}, {}, False),
        ({"areas": ["Identity"]}, {}, True),  # areas match whatever their case
        ({"areas": ["billing"]}, {}, False),
        ({"areas": ["identity"]}, {"area": None}, False),
        ({}, {"area": None, "conflict_codes": frozenset()}, True),  # no condition: any
    ],
)
def test_each_condition(when, fields, holds):
    assert matches(rule(**when), subject(**fields)) is holds


def test_every_condition_must_hold():
    both = rule(kinds=["feature"], sources=["salesforce"])
    assert not matches(both, subject())
    assert matches(both, subject(source="salesforce"))
