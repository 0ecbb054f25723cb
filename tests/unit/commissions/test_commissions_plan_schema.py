"""Plan model, JSON Schema and validation messages that point at the key at fault."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from spm_domain.commissions import PlanValidationError, load_plan, plan_json_schema

ROOT = Path(__file__).resolve().parents[3]


def _base(**extra: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "plan": "p",
        "currency": "USD",
        "period": "quarterly",
        "components": [{"type": "percentage", "rate": "0.05"}],
    }
    plan.update(extra)
    return plan


def test_committed_schema_is_in_sync() -> None:
    committed = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
    assert committed == json.loads(json.dumps(plan_json_schema(), sort_keys=True)), (
        "docs/plan.schema.json is stale: run `spm plans schema --out docs/plan.schema.json`"
    )


def test_example_plans_satisfy_the_published_schema() -> None:
    import yaml

    schema = plan_json_schema()
    for path in sorted((ROOT / "examples" / "plans").iterdir()):
        document = yaml.safe_load(path.read_text())
        document = json.loads(json.dumps(document, default=str))
        jsonschema.validate(document, schema)


def test_yaml_numbers_are_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "plan: p\ncurrency: USD\nperiod: monthly\ncomponents:\n"
        "  - {type: percentage, rate: 0.1}\n  - {type: fixed_per_deal, amount: 100.10}\n"
    )
    plan = load_plan(path)
    assert plan.components[0].rate == Decimal("0.1")  # type: ignore[union-attr]
    assert str(plan.components[1].amount) == "100.10"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (
            {
                "components": [
                    {"type": "percentage", "rate": "0.01"},
                    {"type": "percentage", "rate": "0.01", "name": "b"},
                    {
                        "type": "tiered",
                        "basis": "attainment",
                        "mode": "marginal",
                        "tiers": [
                            {"upto": "1.0", "rate": "0"},
                            {"upto": "0.5", "rate": "0"},
                            {"rate": "1"},
                        ],
                    },
                ]
            },
            "components[2].tiers[1].upto",
            "must be greater than the previous upto",
        ),
        ({"currency": "XXX"}, "currency", "unknown currency"),
        ({"period": "weekly"}, "period", "'monthly', 'quarterly' or 'yearly'"),
        ({"cap": {"amount": "-1"}}, "cap.amount", "greater than or equal to 0"),
        ({"components": [{"type": "commission"}]}, "components[0]", "unknown component type"),
        (
            {"components": [{"type": "percentage", "rate": "0.1", "rat": 1}]},
            "components[0].rat",
            "unknown key",
        ),
        (
            {
                "components": [
                    {
                        "type": "tiered",
                        "basis": "attainment",
                        "mode": "marginal",
                        "scope": "transaction",
                        "tiers": [{"rate": "0.1"}],
                    }
                ]
            },
            "components[0].scope",
            "requires basis `amount`",
        ),
        (
            {
                "components": [
                    {
                        "type": "tiered",
                        "basis": "amount",
                        "mode": "marginal",
                        "tiers": [{"upto": "10", "rate": "0.1"}],
                    }
                ]
            },
            "components[0].tiers[0].upto",
            "last tier has no upto",
        ),
        (
            {
                "components": [
                    {"type": "payout_curve", "target_incentive": "1", "points": [[1, 0], [0.5, 1]]}
                ]
            },
            "components[0].points[1][0]",
            "increase strictly",
        ),
        (
            {
                "components": [
                    {
                        "type": "percentage",
                        "rate": "0.1",
                        "filter": {"credit_date": {"from": "2025-03-01", "to": "2025-02-01"}},
                    }
                ]
            },
            "components[0].filter.credit_date.to",
            "must not be before",
        ),
        (
            {"components": [{"type": "percentage", "rate": "0.1", "name": "draw"}]},
            "components[0].name",
            "reserved",
        ),
        ({"rate": "x"}, "rate", "unknown key"),
    ],
)
def test_errors_point_at_the_key(change: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(PlanValidationError) as info:
        load_plan(_base(**change))
    paths = {p: m for p, m in info.value.errors}
    assert path in paths, info.value.errors
    assert fragment in paths[path]
    assert path in str(info.value)


def test_component_names_default_to_type_or_type_and_position() -> None:
    plan = load_plan(
        _base(
            components=[
                {"type": "percentage", "rate": "0.01"},
                {"type": "percentage", "rate": "0.02"},
                {"type": "bonus", "amount": "1", "when": {"deals_gte": 1}},
            ]
        )
    )
    assert plan.component_names == ["percentage_1", "percentage_2", "bonus"]


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("plan: [unclosed\n")
    with pytest.raises(PlanValidationError, match=r"bad\.yaml"):
        load_plan(path)


def test_plan_hash_ignores_formatting(tmp_path: Path) -> None:
    a = load_plan(_base())
    b = load_plan({**_base(), "components": [{"rate": Decimal("0.05"), "type": "percentage"}]})
    assert a.content_hash() == b.content_hash()
