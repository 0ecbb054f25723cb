"""Payout curves are paid exactly: the division by quota comes last, then one rounding.

Regression for an engine/reference disagreement Hypothesis found: attainment (credit ÷ quota) is
a repeating decimal, and multiplying a cut-short attainment by the target incentive landed just
below a half cent (309.87499… instead of 309.875).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from commissions_reference import RefTx, reference_run

from spm_domain.commissions import calculate_commissions, load_plan

D = Decimal


def curve_plan(rounding: str) -> dict[str, object]:
    return {
        "plan": "curve",
        "currency": "USD",
        "period": "yearly",
        "rounding": rounding,
        "components": [
            {"type": "payout_curve", "target_incentive": "15000", "points": [[0, 0], [1, 1]]}
        ],
    }


@pytest.mark.parametrize(
    ("rounding", "credited", "expected"),
    [
        # 15,000 × 3,718.50 ÷ 180,000 = 3,718.50 ÷ 12 = 309.875 exactly -> 309.88 either way
        # (half-even: 7 is odd, so up to 8).
        ("half_up", "3718.50", D("309.88")),
        ("half_even", "3718.50", D("309.88")),
        # 3,718.38 ÷ 12 = 309.865 exactly: half-up 309.87, half-even 309.86.
        ("half_up", "3718.38", D("309.87")),
        ("half_even", "3718.38", D("309.86")),
        # 1,000 ÷ 12 = 83.3333… (repeating, no tie) -> 83.33.
        ("half_up", "1000", D("83.33")),
    ],
)
def test_payout_curve_rounds_the_exact_amount(
    rounding: str, credited: str, expected: Decimal
) -> None:
    plan = curve_plan(rounding)
    txs = pd.DataFrame(
        [
            {
                "transaction_id": "T1",
                "rep_id": "a",
                "amount": credited,
                "currency": "USD",
                "credit_date": "2025-03-07",
            }
        ]
    )
    quotas = pd.DataFrame({"rep_id": ["a"], "period": ["2025"], "quota": ["180000"]})
    result = calculate_commissions(plan, txs, quotas)
    assert result.lines["amount"].tolist() == [expected]
    ref, _ = reference_run(
        load_plan(plan),
        [RefTx("T1", "a", D(credited), "USD", date(2025, 3, 7))],
        {("a", "2025"): D("180000")},
        None,
        {},
    )
    assert ref == {("a", "2025", "payout_curve", ""): expected}
