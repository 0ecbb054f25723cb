"""Invariants of the commission engine, and engine == plain Decimal reference."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from commissions_reference import RefRep, RefTx, reference_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_domain.commissions import calculate_commissions, load_plan, run_documents

D = Decimal
REPS = ["r1", "r2", "r3"]
ROSTER = {
    "r1": RefRep(manager_id="m1", role="AE", hire_date=date(2020, 1, 1)),
    "r2": RefRep(manager_id="m1", role="AE", hire_date=date(2025, 2, 10)),
    "r3": RefRep(
        manager_id="m2", role="SDR", hire_date=date(2021, 1, 1), terminated_date=date(2025, 9, 30)
    ),
    "m1": RefRep(manager_id="m2", role="Manager", hire_date=date(2019, 1, 1)),
    "m2": RefRep(role="VP", hire_date=date(2018, 1, 1)),
}
FX_RATE = {m: D("1.08") + D(m) / 1000 for m in range(1, 13)}
CORE_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
PROPERTY_SETTINGS = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

rates = st.sampled_from([D("0"), D("0.01"), D("0.05"), D("0.08"), D("0.125"), D("0.15")])
money = st.integers(min_value=1, max_value=6_000_000).map(lambda c: D(c) / 100)


@st.composite
def tier_lists(draw: st.DrawFn, basis: str) -> list[dict[str, Any]]:
    pool = (
        [D("0.25"), D("0.5"), D("0.8"), D("1.0"), D("1.2"), D("1.5")]
        if basis == "attainment"
        else [D(1000), D(5000), D(10000), D(25000), D(50000)]
    )
    uptos = sorted(draw(st.sets(st.sampled_from(pool), max_size=3)))
    tiers: list[dict[str, Any]] = [{"upto": u, "rate": draw(rates)} for u in uptos]
    tiers.append({"rate": draw(rates)})
    return tiers


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["none", "none", "product", "products", "dates"]))
    if kind == "product":
        return {"product": draw(st.sampled_from(["A", "B"]))}
    if kind == "products":
        return {"product": ["A", "C"]}
    if kind == "dates":
        start = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 200)))
        return {
            "credit_date": {"from": start, "to": start + timedelta(days=draw(st.integers(0, 90)))}
        }
    return None


@st.composite
def components(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "percentage",
                "fixed_per_deal",
                "fixed_per_unit",
                "tiered",
                "tiered",
                "payout_curve",
                "bonus",
                "rate_table",
                "override",
            ]
        )
    )
    comp: dict[str, Any] = {"type": kind}
    if kind in {"percentage", "override"}:
        comp["rate"] = draw(rates)
        if kind == "override":
            comp["levels"] = draw(st.integers(1, 2))
    elif kind in {"fixed_per_deal", "fixed_per_unit"}:
        comp["amount"] = draw(st.sampled_from([D("10"), D("99.99"), D("250")]))
    elif kind == "tiered":
        basis = draw(st.sampled_from(["attainment", "amount"]))
        comp.update(
            basis=basis,
            mode=draw(st.sampled_from(["marginal", "retroactive"])),
            scope="transaction" if basis == "amount" and draw(st.booleans()) else "period",
            tiers=draw(tier_lists(basis)),
        )
    elif kind == "payout_curve":
        comp.update(
            target_incentive=D("5000"),
            points=draw(
                st.sampled_from(
                    [[[0, 0], [1, 1]], [[0.5, 0], [1, 1], [1.5, 3]], [[0.8, 0.25], [1.2, 1.5]]]
                )
            ),
        )
        return comp
    elif kind == "bonus":
        when = draw(
            st.sampled_from(
                [{"attainment_gte": D("0.5")}, {"credited_gte": D("20000")}, {"deals_gte": 2}]
            )
        )
        comp.update(amount=D("750"), when=when)
    else:
        comp.update(key="product", rates={"A": draw(rates), "B": draw(rates)})
        if draw(st.booleans()):
            comp["default"] = draw(rates)
    flt = draw(filters())
    if flt is not None:
        comp["filter"] = flt
    return comp


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "plan": "random",
        "currency": "USD",
        "period": draw(st.sampled_from(["quarterly", "quarterly", "monthly"])),
        "settlement": draw(st.sampled_from(["per_period", "cumulative"])),
        "rounding": draw(st.sampled_from(["half_up", "half_even"])),
        "components": draw(st.lists(components(), min_size=1, max_size=4)),
    }
    if draw(st.booleans()):
        # 500.005: a cap finer than the cent (the statement is capped at 500.00).
        plan["cap"] = {"amount": draw(st.sampled_from([D("500"), D("5000"), D("500.005")]))}
    if draw(st.booleans()):
        plan["draw"] = {"amount": D("1000"), "recoverable": draw(st.booleans())}
    if draw(st.booleans()):
        plan["clawback"] = {"window_days": draw(st.sampled_from([30, 90]))}
    eligibility = draw(st.sampled_from([None, {"roles": ["AE"]}, {"min_tenure_days": 60}]))
    if eligibility:
        plan["eligibility"] = eligibility
    return plan


@st.composite
def transactions(draw: st.DrawFn) -> list[RefTx]:
    out: list[RefTx] = []
    for i in range(draw(st.integers(1, 10))):
        day = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
        amount = draw(money) * (-1 if draw(st.integers(0, 9)) == 0 else 1)
        currency = draw(st.sampled_from(["USD", "USD", "EUR"]))
        cancel = None
        if draw(st.integers(0, 3)) == 0:
            cancel = day + timedelta(days=draw(st.integers(0, 120)))
        product = draw(st.sampled_from(["A", "B", "C"]))
        quantity = D(draw(st.integers(1, 5)))
        reps = draw(st.lists(st.sampled_from(REPS), min_size=1, max_size=2, unique=True))
        shares = (
            [D(1)]
            if len(reps) == 1
            else draw(
                st.sampled_from(
                    [[D("0.5"), D("0.5")], [D("0.3"), D("0.7")], [D("0.25"), D("0.75")]]
                )
            )
        )
        for rep, share in zip(reps, shares, strict=True):
            out.append(
                RefTx(
                    f"T{i:02d}", rep, amount, currency, day, share, cancel, quantity, None, product
                )
            )
    return out


def _quota_map(period: str) -> dict[tuple[str, str], Decimal]:
    keys = (
        [f"2025-Q{q}" for q in range(1, 5)]
        if period == "quarterly"
        else [f"2025-{m:02d}" for m in range(1, 13)]
    )
    base = D(60000) if period == "quarterly" else D(20000)
    return {(rep, k): base * (i + 1) for i, rep in enumerate(REPS) for k in keys}


def _frames(txs: list[RefTx], quotas: dict[tuple[str, str], Decimal]) -> dict[str, pd.DataFrame]:
    tx = pd.DataFrame(
        [
            {
                "transaction_id": t.transaction_id,
                "rep_id": t.rep_id,
                "amount": str(t.amount),
                "currency": t.currency,
                "credit_date": t.credit_date.isoformat(),
                "share": str(t.share),
                "cancel_date": t.cancel_date.isoformat() if t.cancel_date else "",
                "product": t.product,
                "quantity": str(t.quantity),
            }
            for t in txs
        ]
    )
    q = pd.DataFrame([{"rep_id": r, "period": p, "quota": str(v)} for (r, p), v in quotas.items()])
    roster = pd.DataFrame(
        [
            {
                "rep_id": rep,
                "manager_id": info.manager_id or "",
                "role": info.role or "",
                "hire_date": info.hire_date.isoformat() if info.hire_date else "",
                "terminated_date": info.terminated_date.isoformat() if info.terminated_date else "",
            }
            for rep, info in ROSTER.items()
        ]
    )
    fx = pd.DataFrame(
        [
            {
                "period": f"2025-{m:02d}",
                "from_currency": "EUR",
                "to_currency": "USD",
                "rate": str(r),
            }
            for m, r in FX_RATE.items()
        ]
    )
    return {"transactions": tx, "quotas": q, "roster": roster, "fx": fx}


def _engine_totals(result: Any) -> dict[tuple[str, str, str, str], Decimal]:
    out: dict[tuple[str, str, str, str], Decimal] = defaultdict(lambda: D(0))
    for r in result.lines.itertuples(index=False):
        out[(r.rep_id, r.period, r.component, r.transaction_id or "")] += r.amount
    return {k: v for k, v in out.items() if v != 0}


@CORE_SETTINGS
@given(plan_doc=plans(), txs=transactions())
def test_engine_equals_the_decimal_reference(plan_doc: dict[str, Any], txs: list[RefTx]) -> None:
    plan = load_plan(plan_doc)
    quotas = _quota_map(plan.period)
    frames = _frames(txs, quotas)
    result = calculate_commissions(
        plan, frames["transactions"], frames["quotas"], frames["roster"], frames["fx"]
    )
    fx = {(f"2025-{m:02d}", "EUR", "USD"): r for m, r in FX_RATE.items()}
    ref_lines, ref_payouts = reference_run(plan, txs, quotas, ROSTER, fx)
    assert _engine_totals(result) == {k: v for k, v in ref_lines.items() if v != 0}
    engine_payouts = {
        (s.rep_id, s.period): s.payout
        for s in result.statements.itertuples(index=False)
        if s.payout != 0
    }
    assert engine_payouts == {k: v for k, v in ref_payouts.items() if v != 0}
    # Statements equal the sum of their lines, to the cent.
    sums: dict[tuple[str, str], Decimal] = defaultdict(lambda: D(0))
    for r in result.lines.itertuples(index=False):
        sums[(r.rep_id, r.period)] += r.amount
    for s in result.statements.itertuples(index=False):
        assert s.payout == sums.get((s.rep_id, s.period), D(0)) == s.gross + s.adjustments
        assert s.payout.as_tuple().exponent == -2
    assert result.lines["explanation"].map(bool).all()
    _assert_the_cap_holds_per_period(plan.cap.amount if plan.cap else None, result.lines)


ADJUSTMENTS = {"cap_adjustment", "draw", "draw_recovery", "clawback"}


def _assert_the_cap_holds_per_period(cap: Decimal | None, lines: pd.DataFrame) -> None:
    """A cap line is always negative and brings the period's components to at most the cap."""
    capped: dict[tuple[str, str], Decimal] = defaultdict(lambda: D(0))
    for r in lines.itertuples(index=False):
        if r.component == "cap_adjustment":
            assert cap is not None and r.amount < 0
        if r.component == "cap_adjustment" or r.component not in ADJUSTMENTS:
            capped[(r.rep_id, r.period)] += r.amount
    if cap is not None:
        assert all(total <= cap for total in capped.values())


MARGINAL = {
    "plan": "m",
    "currency": "USD",
    "period": "yearly",
    "components": [
        {
            "type": "tiered",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [
                {"upto": "0.5", "rate": "0"},
                {"upto": "1", "rate": "0.08"},
                {"upto": "1.5", "rate": "0.12"},
                {"rate": "0.15"},
            ],
        }
    ],
}


def _simple_tx(amounts: list[Decimal], rep: str = "r1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": [f"T{i:03d}" for i in range(len(amounts))],
            "rep_id": [rep] * len(amounts),
            "amount": [str(a) for a in amounts],
            "currency": ["USD"] * len(amounts),
            "credit_date": [
                (date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(len(amounts))
            ],
        }
    )


@PROPERTY_SETTINGS
@given(st.lists(money, min_size=1, max_size=8))
def test_marginal_payout_never_decreases_as_credit_grows(amounts: list[Decimal]) -> None:
    quotas = pd.DataFrame({"rep_id": ["r1"], "period": ["2025"], "quota": ["100000"]})
    previous = D(-1)
    for n in range(1, len(amounts) + 1):
        result = calculate_commissions(MARGINAL, _simple_tx(amounts[:n]), quotas)
        total = result.statements["payout"].iloc[0]
        assert total >= previous
        previous = total


@PROPERTY_SETTINGS
@given(txs=transactions())
def test_splits_conserve_credit(txs: list[RefTx]) -> None:
    usd = [t for t in txs if t.currency == "USD"]
    if not usd:
        return
    frames = _frames(usd, {})
    plan = {
        "plan": "s",
        "currency": "USD",
        "period": "yearly",
        "components": [{"type": "percentage", "rate": "0.1"}],
    }
    result = calculate_commissions(plan, frames["transactions"])
    total_amount = sum({t.transaction_id: t.amount for t in usd}.values(), D(0))
    assert sum(result.statements["credited"], D(0)) == total_amount


@PROPERTY_SETTINGS
@given(plan_doc=plans(), txs=transactions())
def test_a_clawback_reverses_exactly_what_its_deal_paid(
    plan_doc: dict[str, Any], txs: list[RefTx]
) -> None:
    plan_doc = {**plan_doc, "clawback": {"window_days": 120}, "settlement": "per_period"}
    plan = load_plan(plan_doc)
    frames = _frames(txs, _quota_map(plan.period))
    result = calculate_commissions(
        plan, frames["transactions"], frames["quotas"], frames["roster"], frames["fx"]
    )
    lines = result.lines
    for row in lines[lines["component"] == "clawback"].itertuples(index=False):
        paid = lines[
            (lines["rep_id"] == row.rep_id)
            & (lines["transaction_id"] == row.transaction_id)
            & (lines["component"] != "clawback")
        ]["amount"]
        assert row.amount == -sum(paid, D(0))


@PROPERTY_SETTINGS
@given(
    amounts=st.lists(money, min_size=1, max_size=10),
    days=st.lists(st.integers(0, 364), min_size=10, max_size=10),
    mode=st.sampled_from(["marginal", "retroactive"]),
)
def test_a_cumulative_year_equals_the_annual_computation(
    amounts: list[Decimal], days: list[int], mode: str
) -> None:
    tx = _simple_tx(amounts)
    tx["credit_date"] = [
        (date(2025, 1, 1) + timedelta(days=d)).isoformat() for d in days[: len(amounts)]
    ]
    quarterly = {**MARGINAL, "period": "quarterly", "settlement": "cumulative"}
    quarterly["components"] = [{**MARGINAL["components"][0], "mode": mode}]  # type: ignore[index]
    yearly = {**quarterly, "period": "yearly", "settlement": "per_period"}
    q_quotas = pd.DataFrame(
        {
            "rep_id": ["r1"] * 4,
            "period": [f"2025-Q{i}" for i in range(1, 5)],
            "quota": ["20000", "30000", "25000", "25000"],
        }
    )
    y_quotas = pd.DataFrame({"rep_id": ["r1"], "period": ["2025"], "quota": ["100000"]})
    cumulative = calculate_commissions(quarterly, tx, q_quotas)
    annual = calculate_commissions(yearly, tx, y_quotas)
    assert sum(cumulative.statements["payout"], D(0)) == sum(annual.statements["payout"], D(0))
    per_tx_cumulative = cumulative.lines.groupby("transaction_id")["amount"].apply(
        lambda s: sum(s, D(0))
    )
    per_tx_annual = annual.lines.set_index("transaction_id")["amount"]
    assert per_tx_cumulative.to_dict() == per_tx_annual.to_dict()


@settings(max_examples=10, deadline=None)
@given(plan_doc=plans(), txs=transactions())
def test_reruns_are_byte_identical(plan_doc: dict[str, Any], txs: list[RefTx]) -> None:
    plan = load_plan(plan_doc)
    frames = _frames(txs, _quota_map(plan.period))
    args = (plan, frames["transactions"], frames["quotas"], frames["roster"], frames["fx"])
    first, second = (
        run_documents(calculate_commissions(*args)),
        run_documents(calculate_commissions(*args)),
    )
    assert first["lines.csv"] == second["lines.csv"]
    assert first["statements.csv"] == second["statements.csv"]
    a, b = (json.loads(d["run.json"]) for d in (first, second))
    a.pop("timings"), b.pop("timings")
    assert a == b
