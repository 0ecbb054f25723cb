"""The vectorized path equals the exact engine, to the cent, on random plans and data."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_domain.commissions import calculate_commissions, load_plan, vectorized
from spm_domain.commissions.vectorized import (
    NotVectorizable,
    calculate_vectorized,
    round_scaled,
    vectorizable_reason,
)

D = Decimal
rates = st.sampled_from(["0", "0.01", "0.05", "0.08", "0.125", "0.15", "0.0333"])


@st.composite
def fast_plans(draw: st.DrawFn) -> dict[str, Any]:
    comps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["percentage", "fixed_per_deal", "rate_table", "tiered", "tiered"])
        )
        comp: dict[str, Any] = {"type": kind}
        if kind == "percentage":
            comp["rate"] = draw(rates)
        elif kind == "fixed_per_deal":
            comp["amount"] = draw(st.sampled_from(["10", "99.99", "0.5"]))
        elif kind == "rate_table":
            comp.update(key="product", rates={"A": draw(rates), "B": draw(rates)})
            if draw(st.booleans()):
                comp["default"] = draw(rates)
        else:
            basis = draw(st.sampled_from(["attainment", "amount"]))
            pool = (
                ["0.25", "0.5", "1", "1.5"]
                if basis == "attainment"
                else ["1000", "5000", "20000.5"]
            )
            uptos = sorted(draw(st.sets(st.sampled_from(pool), max_size=3)), key=D)
            comp.update(
                basis=basis,
                mode=draw(st.sampled_from(["marginal", "retroactive"])),
                scope="transaction" if basis == "amount" and draw(st.booleans()) else "period",
                tiers=[*({"upto": u, "rate": draw(rates)} for u in uptos), {"rate": draw(rates)}],
            )
        flt = draw(
            st.sampled_from(
                [
                    None,
                    {"product": "A"},
                    {"product": ["A", "C"]},
                    {"credit_date": {"from": "2025-03-01", "to": "2025-08-31"}},
                ]
            )
        )
        if flt:
            comp["filter"] = flt
        comps.append(comp)
    plan: dict[str, Any] = {
        "plan": "fast",
        "currency": draw(st.sampled_from(["USD", "USD", "JPY", "BHD"])),
        "period": draw(st.sampled_from(["monthly", "quarterly", "yearly"])),
        "rounding": draw(st.sampled_from(["half_up", "half_even"])),
        "components": comps,
    }
    if draw(st.booleans()):
        plan["cap"] = {"amount": "2500"}
    return plan


@st.composite
def fast_data(draw: st.DrawFn, currency: str) -> pd.DataFrame:
    rows = []
    for i in range(draw(st.integers(1, 25))):
        amount = D(draw(st.integers(-50_000, 9_000_000))) / 100
        day = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
        cur = draw(st.sampled_from([currency, "EUR"]))
        reps = draw(
            st.lists(st.sampled_from(["r1", "r2", "r3", "r4"]), min_size=1, max_size=2, unique=True)
        )
        shares = (
            ["1"]
            if len(reps) == 1
            else draw(st.sampled_from([["0.5", "0.5"], ["0.3", "0.7"], ["0.125", "0.875"]]))
        )
        product = draw(st.sampled_from(["A", "B", "C"]))
        for rep, share in zip(reps, shares, strict=True):
            rows.append(
                {
                    "transaction_id": f"T{i:03d}",
                    "rep_id": rep,
                    "amount": str(amount),
                    "currency": cur,
                    "credit_date": day.isoformat(),
                    "share": share,
                    "product": product,
                }
            )
    return pd.DataFrame(rows)


def _inputs(plan: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    kind = plan["period"]
    keys = (
        [f"2025-{m:02d}" for m in range(1, 13)]
        if kind == "monthly"
        else [f"2025-Q{q}" for q in range(1, 5)]
        if kind == "quarterly"
        else ["2025"]
    )
    quotas = pd.DataFrame(
        [
            {"rep_id": r, "period": k, "quota": str(D(30000) * (i + 1))}
            for i, r in enumerate(["r1", "r2", "r3", "r4"])
            for k in keys
        ]
    )
    fx = pd.DataFrame(
        [
            {
                "period": f"2025-{m:02d}",
                "from_currency": "EUR",
                "to_currency": plan["currency"],
                "rate": str(D("1.0815") + D(m) / 997 if plan["currency"] != "JPY" else D("161.27"))[
                    :9
                ],
            }
            for m in range(1, 13)
        ]
    )
    return quotas, fx


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_vectorized_equals_exact_engine(data: st.DataObject) -> None:
    plan = data.draw(fast_plans())
    assert vectorizable_reason(load_plan(plan)) is None
    tx = data.draw(fast_data(plan["currency"]))
    quotas, fx = _inputs(plan)
    exact = calculate_commissions(plan, tx, quotas, fx=fx)
    fast = calculate_vectorized(plan, tx, quotas, fx)
    quantum = D(1).scaleb(-fast.minor_unit)
    expected: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: D(0))
    for r in exact.lines.itertuples(index=False):
        if r.component != "cap_adjustment":
            expected[(r.rep_id, r.component, r.transaction_id)] += r.amount
    got: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: D(0))
    for rep, comp, tx_id, minor in zip(
        fast.rep_id, fast.component, fast.transaction_id, fast.amount_minor, strict=True
    ):
        got[(rep, comp, tx_id)] += D(int(minor)) * quantum
    assert dict(got) == dict(expected)
    e = exact.statements.set_index(["rep_id", "period"])
    f = fast.statements.set_index(["rep_id", "period"])
    for key, row in f.iterrows():
        assert row["payout"] == e.loc[key, "payout"]
        assert row["credited"] == e.loc[key, "credited"]
    assert set(f.index) == {k for k in e.index if e.loc[k, "credited"] != 0 or k in f.index}


def test_blocks_of_groups_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are processed in blocks of whole (rep, period) groups: tiny blocks, same lines."""
    monkeypatch.setattr(vectorized, "CHUNK_ROWS", 3)
    test_vectorized_equals_exact_engine()


def test_integer_rounding_matches_decimal() -> None:
    values = np.array([125, 135, -125, -135, 124, 0, 5], dtype=np.int64)  # 2 decimals -> 1 decimal
    assert round_scaled(values, 2, 1, half_even=False).tolist() == [13, 14, -13, -14, 12, 0, 1]
    assert round_scaled(values, 2, 1, half_even=True).tolist() == [12, 14, -12, -14, 12, 0, 0]
    big = np.array([10**30 + 5], dtype=object)
    assert round_scaled(big, 1, 0, half_even=True).tolist() == [10**29]


def test_unsupported_plans_are_refused() -> None:
    with pytest.raises(NotVectorizable, match="cumulative"):
        calculate_vectorized(
            {
                "plan": "c",
                "currency": "USD",
                "period": "yearly",
                "settlement": "cumulative",
                "components": [{"type": "percentage", "rate": "0.1"}],
            },
            pd.DataFrame(
                {
                    "transaction_id": ["T"],
                    "rep_id": ["r"],
                    "amount": ["1"],
                    "currency": ["USD"],
                    "credit_date": ["2025-01-01"],
                }
            ),
        )
