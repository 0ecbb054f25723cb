from decimal import Decimal

import pytest

from spm_domain.targets import (
    AllocationMethod,
    Measure,
    ProfileChoice,
    TargetError,
    parse_template,
)

FULL = """
name: annual-revenue
description: FY revenue on last year's sales
measure: revenue
currency: USD
method: history
levels:
  rep: equal
profile: seasonal
flat_blend: "0.25"
product_mix:
  GTX Pro: 3
  MG Special: "1.5"
"""


def test_full_template_parses() -> None:
    t = parse_template(FULL, "T.yaml")
    assert t.name == "annual-revenue" and t.measure is Measure.REVENUE
    rules = t.rules()
    assert (rules.region, rules.team, rules.rep) == (
        AllocationMethod.HISTORY,
        AllocationMethod.HISTORY,
        AllocationMethod.EQUAL,
    )
    assert t.profile is ProfileChoice.SEASONAL
    assert t.flat_blend == Decimal("0.25")
    assert t.product_mix == {"GTX Pro": Decimal(3), "MG Special": Decimal("1.5")}


def test_minimal_template_uses_documented_defaults() -> None:
    t = parse_template("name: x\n")
    assert t.measure is Measure.REVENUE and t.method is AllocationMethod.HISTORY
    assert t.profile is ProfileChoice.NONE and t.product_mix is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "T.yaml: not valid YAML"),
        ("- a list", "T.yaml: a template is a YAML mapping"),
        ("name: x\nmeasure: profit\n", "T.yaml: measure:"),
        ("name: x\nlevels:\n  company: equal\n", "T.yaml: levels:"),
        ("name: x\nlevels:\n  team: random\n", "T.yaml: levels.team:"),
        ("name: x\nflat_blend: 0.5\n", "flat_blend: write it as text"),
        ("name: x\nflat_blend: '2'\n", "T.yaml: flat_blend:"),
        ("name: x\nproduct_mix:\n  A: 0.5\n", "product_mix: weights \\['A'\\] are floats"),
        ("name: x\nproduct_mix:\n  A: -1\n", "T.yaml: product_mix:"),
        ("name: x\ncolour: red\n", "T.yaml: colour:"),
        ("description: no name\n", "T.yaml: name:"),
    ],
)
def test_bad_templates_name_file_and_field(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_template(text, "T.yaml")


def test_the_documented_template_is_valid() -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[3] / "docs" / "quotas-and-targets.md"
    text = doc.read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    template = parse_template(block, str(doc))
    assert template.name == "annual-revenue" and template.profile is ProfileChoice.SEASONAL
    assert template.rules().rep is AllocationMethod.EQUAL
