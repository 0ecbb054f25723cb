"""Canonical tables → the commission contract's input tables.

The commission engine (`spm_domain.commissions`) takes four tables with the
columns named in `shared/spec/commission-plans.md`; the canonical store keeps
richer tables. This module is the one bridge between them, so the CLI, the
demo and the HTTP API all feed the engine the same way.

Decisions (documented in docs/commissions.md "Running on the canonical store"):
- transactions: `product_id` becomes `product`; cancelled and synthetic rows are
  kept (clawbacks need them; synthetic values are flagged in the store).
- quotas: only `measure == revenue` rows; monthly, quarterly and yearly rows
  are all exported and the plan picks the ones of its own period kind.
- fx: the store holds each synthetic rate in the direction it was generated
  (e.g. USD→EUR). A plan paying in USD needs EUR→USD, so the missing reverse
  direction is added as 1/rate rounded half-even to 10 decimals; the derived
  rows are marked `derived_inverse` in an extra column for the audit trail.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

INVERSE_RATE_QUANTUM = Decimal("1e-10")

TRANSACTION_COLUMNS = (
    "transaction_id", "rep_id", "amount", "currency", "credit_date", "product",
    "category", "quantity", "margin", "share", "cancel_date",
)  # fmt: skip
ROSTER_COLUMNS = ("rep_id", "manager_id", "team", "region", "role", "hire_date", "terminated_date")


def _of_source(frame: pd.DataFrame, source: str | None) -> pd.DataFrame:
    if source is None or "source" not in frame.columns:
        return frame
    return frame[frame["source"] == source]


def _dates_as_text(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%d").astype("string")


def _decimal_text(value: object) -> object:
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
        )
    return value


def commission_transactions(transactions: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    tx = _of_source(transactions, source).rename(columns={"product_id": "product"})
    out = pd.DataFrame({c: tx[c] if c in tx.columns else pd.NA for c in TRANSACTION_COLUMNS})
    for column in ("credit_date", "cancel_date"):
        out[column] = _dates_as_text(pd.to_datetime(out[column]))
    for column in ("amount", "quantity", "margin", "share"):
        out[column] = out[column].map(_decimal_text)
    return out.reset_index(drop=True)


def commission_quotas(quotas: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    q = _of_source(quotas, source)
    q = q[q["measure"] == "revenue"]
    return pd.DataFrame(
        {"rep_id": q["rep_id"], "period": q["period"], "quota": q["quota"].map(_decimal_text)}
    ).reset_index(drop=True)


def commission_roster(reps: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    r = _of_source(reps, source)
    out = pd.DataFrame(
        {
            "rep_id": r["rep_id"],
            "manager_id": r["manager_id"],
            "team": r["team_id"],
            "region": r["region_id"],
            "role": r["role"],
            "hire_date": _dates_as_text(pd.to_datetime(r["hire_date"])),
            "terminated_date": _dates_as_text(pd.to_datetime(r["termination_date"])),
        }
    )
    return out.reset_index(drop=True)


def commission_fx(fx_rates: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    fx = _of_source(fx_rates, source)
    direct = pd.DataFrame(
        {
            "period": fx["period"],
            "from_currency": fx["from_currency"],
            "to_currency": fx["to_currency"],
            "rate": fx["rate"],
            "derived_inverse": False,
        }
    )
    have = set(zip(direct["period"], direct["from_currency"], direct["to_currency"], strict=True))
    inverse_rows = [
        {
            "period": row.period,
            "from_currency": row.to_currency,
            "to_currency": row.from_currency,
            "rate": (Decimal(1) / Decimal(row.rate)).quantize(
                INVERSE_RATE_QUANTUM, ROUND_HALF_EVEN
            ),
            "derived_inverse": True,
        }
        for row in direct.itertuples(index=False)
        if (row.period, row.to_currency, row.from_currency) not in have
    ]
    out = pd.concat([direct, pd.DataFrame(inverse_rows, columns=direct.columns)], ignore_index=True)
    out["rate"] = out["rate"].map(_decimal_text)
    return out.sort_values(["period", "from_currency", "to_currency"], kind="stable").reset_index(
        drop=True
    )


def commission_inputs(
    tables: dict[str, pd.DataFrame], source: str | None = None
) -> dict[str, pd.DataFrame]:
    """The four contract tables (transactions, quotas, roster, fx) of one source."""
    out = {
        "transactions": commission_transactions(tables["transactions"], source),
        "roster": commission_roster(tables["reps"], source),
    }
    if "quotas" in tables:
        out["quotas"] = commission_quotas(tables["quotas"], source)
    if "fx_rates" in tables:
        out["fx"] = commission_fx(tables["fx_rates"], source)
    return out
