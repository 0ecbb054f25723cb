"""Canonical store → commission contract tables."""

from decimal import Decimal

import pandas as pd

from features.ingest.exports import commission_inputs
from spm_domain.commissions import calculate_commissions, load_plan


def _tables() -> dict[str, pd.DataFrame]:
    tx = pd.DataFrame(
        {
            "transaction_id": ["t1", "t2", "t3"],
            "rep_id": ["r1", "r2", "x9"],
            "amount": [Decimal("1000.0000000000"), Decimal("500.50"), Decimal("7")],
            "currency": ["USD", "EUR", "USD"],
            "credit_date": pd.to_datetime(["2025-01-10", "2025-02-03", "2025-01-01"]),
            "share": [Decimal(1), Decimal(1), Decimal(1)],
            "product_id": ["GTX Pro", "MG Special", "Other"],
            "category": ["GTX", "MG", "Z"],
            "cancel_date": pd.to_datetime([None, None, None]),
            "source": ["maven_crm", "maven_crm", "superstore"],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["r1", "r2", "m1", "x9"],
            "manager_id": ["m1", "m1", None, None],
            "team_id": ["t", "t", "t", None],
            "region_id": ["c", "w", "c", None],
            "role": ["AE", "AE", "Manager", "AE"],
            "hire_date": pd.to_datetime(["2020-01-01", "2020-01-01", "2019-01-01", None]),
            "termination_date": pd.to_datetime([None, None, None, None]),
            "source": ["maven_crm", "maven_crm", "maven_crm", "superstore"],
        }
    )
    quotas = pd.DataFrame(
        {
            "rep_id": ["r1", "r2", "r1"],
            "period": ["2025-Q1", "2025-Q1", "2025-Q1"],
            "measure": ["revenue", "revenue", "units"],
            "quota": [Decimal("2000"), Decimal("1000"), Decimal("5")],
            "source": ["maven_crm"] * 3,
        }
    )
    fx = pd.DataFrame(
        {
            "period": ["2025-01", "2025-02"],
            "from_currency": ["USD", "USD"],
            "to_currency": ["EUR", "EUR"],
            "rate": [Decimal("0.800000"), Decimal("0.900000")],
            "source": ["maven_crm"] * 2,
        }
    )
    return {"transactions": tx, "reps": reps, "quotas": quotas, "fx_rates": fx}


def test_contract_columns_source_filter_and_exact_text() -> None:
    out = commission_inputs(_tables(), "maven_crm")
    tx = out["transactions"]
    assert list(tx["transaction_id"]) == ["t1", "t2"]
    assert list(tx["product"]) == ["GTX Pro", "MG Special"]
    assert list(tx["amount"]) == ["1000", "500.50"]
    assert list(tx["credit_date"]) == ["2025-01-10", "2025-02-03"]
    assert list(out["quotas"]["quota"]) == ["2000", "1000"]  # revenue only, no units row
    assert set(out["roster"]["rep_id"]) == {"r1", "r2", "m1"}


def test_missing_reverse_fx_direction_is_derived_and_marked() -> None:
    fx = commission_inputs(_tables(), "maven_crm")["fx"]
    inverse = fx[fx["derived_inverse"]]
    assert list(inverse["from_currency"]) == ["EUR", "EUR"]
    assert list(inverse["rate"]) == ["1.2500000000", "1.1111111111"]
    assert len(fx[~fx["derived_inverse"]]) == 2


def test_exported_tables_feed_the_engine() -> None:
    plan = load_plan(
        {
            "plan": "p",
            "name": "p",
            "currency": "USD",
            "period": "quarterly",
            "components": [{"type": "percentage", "name": "base", "rate": "0.1"}],
        }
    )
    out = commission_inputs(_tables(), "maven_crm")
    result = calculate_commissions(
        plan, out["transactions"], quotas=out["quotas"], roster=out["roster"], fx=out["fx"]
    )
    paid = {row.rep_id: row.payout for row in result.statements.itertuples()}
    assert paid["r1"] == Decimal("100.00")
    assert paid["r2"] == Decimal("55.61")  # 500.50 EUR x 1.1111111111 = 556.11 USD; 10%
