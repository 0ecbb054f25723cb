"""Earnings estimator: what a rep would earn if each open deal closed.

Each open deal is added on its own to the rep's existing credit and the same
engine recomputes the rep's payouts; the estimate is the difference in the
rep's total payout over all periods (so tier crossings, retroactive re-rating,
bonuses, caps and true-ups are all included). Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from spm_domain.commissions.engine import calculate_from_tables
from spm_domain.commissions.plan import Plan, load_plan
from spm_domain.commissions.tables import (
    CommissionInputError,
    TableSource,
    TextTable,
    read_table,
    records_of,
)
from spm_domain.periods import DEFAULT_CALENDAR, Calendar

OTHERS_REP_ID = "__rest_of_split__"  # holds the part of a split deal that is not the rep's
ESTIMATE_COLUMNS = (
    "transaction_id",
    "period",
    "credit_date",
    "amount",
    "deal_currency",
    "share",
    "payout_without",
    "payout_with",
    "incremental",
    "currency",
)


def _rep_total(
    plan: Plan, tables: dict[str, TextTable], rep_id: str, calendar: Calendar
) -> Decimal:
    result = calculate_from_tables(plan, tables, calendar=calendar)
    rows = result.statements[result.statements["rep_id"] == rep_id]
    return sum(rows["payout"].tolist(), Decimal(0))


def _with_rows(table: TextTable, rows: list[dict[str, Any]]) -> TextTable:
    extra = pd.DataFrame(rows, dtype=object)
    frame = pd.concat([table.frame, extra], ignore_index=True).fillna("").astype(object)
    return TextTable(table.name, frame, table.sha256)


def _placeholder_quotas(plan: Plan, credit_date: str, calendar: Calendar) -> list[dict[str, Any]]:
    """Quotas for the rest-of-split placeholder so attainment components can run."""
    try:
        day = date.fromisoformat(credit_date[:10])
    except ValueError:
        return []
    year = calendar.fiscal_year(calendar.fiscal_year_of(day))
    return [
        {"rep_id": OTHERS_REP_ID, "period": p.key, "quota": "1"}
        for p in calendar.periods_between(year.start, year.last_day, plan.period)
    ]


def estimate_earnings(
    plan: Plan | dict[str, Any] | str,
    rep_id: str,
    open_deals: TableSource,
    transactions: TableSource | None = None,
    quotas: TableSource | None = None,
    roster: TableSource | None = None,
    fx: TableSource | None = None,
    *,
    calendar: Calendar = DEFAULT_CALENDAR,
) -> pd.DataFrame:
    """Per open deal: the rep's payout without it, with it, and the difference.

    `open_deals` has the transaction columns (`transaction_id`, `amount`,
    `currency`, `credit_date` = expected close date, optional `share` and
    any columns the plan's filters use); `rep_id` may be omitted.
    """
    plan = load_plan(plan)
    deals = read_table(open_deals, "open_deals")
    base_columns = ["transaction_id", "rep_id", "amount", "currency", "credit_date"]
    existing = (
        read_table(transactions, "transactions")
        if transactions is not None
        else TextTable(
            "transactions", pd.DataFrame({c: [] for c in base_columns}, dtype=object), ""
        )
    )
    tables: dict[str, TextTable] = {"transactions": existing}
    for name, source in (("quotas", quotas), ("roster", roster), ("fx", fx)):
        if source is not None:
            tables[name] = read_table(source, name)
    for column in ("transaction_id", "amount", "currency", "credit_date"):
        if not deals.has(column):
            raise CommissionInputError([f"open_deals: missing column {column!r}"])
    known = set(existing.frame["transaction_id"].tolist()) if existing.rows else set()
    without = _rep_total(plan, tables, rep_id, calendar)
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(records_of(deals), start=1):
        tx = rec["transaction_id"]
        if tx in known:
            raise CommissionInputError(
                [f"open_deals row {i}: transaction {tx!r} is already in transactions"]
            )
        row = {**rec, "rep_id": rep_id}
        share_text = rec.get("share") or "1"
        row["share"] = share_text
        rows = [row]
        try:
            share = Decimal(share_text)
        except ArithmeticError:
            raise CommissionInputError(
                [f"open_deals row {i}, column share: {share_text!r} is not a decimal number"]
            ) from None
        if share != 1:
            rows.append({**row, "rep_id": OTHERS_REP_ID, "share": format(1 - share, "f")})
        trial = dict(tables)
        trial["transactions"] = _with_rows(existing, rows)
        if share != 1 and "quotas" in tables:
            trial["quotas"] = _with_rows(
                tables["quotas"], _placeholder_quotas(plan, rec["credit_date"], calendar)
            )
        try:
            with_deal = _rep_total(plan, trial, rep_id, calendar)
        except CommissionInputError as exc:
            raise CommissionInputError(
                [p.replace("transactions row", "open deal") for p in exc.problems]
            ) from None
        period = calendar.containing(pd.Timestamp(rec["credit_date"]).date(), plan.period).key
        out.append(
            {
                "transaction_id": tx,
                "period": period,
                "credit_date": rec["credit_date"],
                "amount": Decimal(rec["amount"]),
                "deal_currency": rec["currency"],
                "share": share,
                "payout_without": without,
                "payout_with": with_deal,
                "incremental": with_deal - without,
                "currency": plan.currency,
            }
        )
    return pd.DataFrame(out, columns=list(ESTIMATE_COLUMNS), dtype=object)


def estimate_columns() -> Sequence[str]:
    return ESTIMATE_COLUMNS
