"""Small hand-made canonical tables shaped like the shared datasets' gaps
(Maven-like deals without created_at / stage history / quotas, X-Education-like
leads without timestamps or owners), for the enrichment tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from features.ingest.dtypes import conform_frame, empty_frame
from features.ingest.schema import CANONICAL_TABLES

SOURCE = "maven_crm"
LEAD_SOURCE = "x_education"
CENTRAL_REPS = ("anna", "bob")
WEST_REPS = ("carla", "dan")
IDLE_REP = "erin"  # in sales_teams but without deals


@dataclass(frozen=True)
class Deal:
    opportunity_id: str
    rep_id: str
    outcome: str  # won / lost / open
    engaged: date | None
    closed: date | None
    amount: Decimal | None


def _utc(day: date | None) -> pd.Timestamp | None:
    return None if day is None else pd.Timestamp(day).tz_localize("UTC")


def org_and_reps() -> dict[str, list[dict[str, Any]]]:
    units = [
        {"unit_id": "company", "kind": "company", "name": "Maven", "parent_id": None},
        {"unit_id": "region:Central", "kind": "region", "name": "Central", "parent_id": "company"},
        {"unit_id": "region:West", "kind": "region", "name": "West", "parent_id": "company"},
        {"unit_id": "team:M1", "kind": "team", "name": "M1", "parent_id": "region:Central"},
        {"unit_id": "team:M2", "kind": "team", "name": "M2", "parent_id": "region:West"},
    ]
    reps = [
        {"rep_id": "m1", "manager_id": None, "team_id": "team:M1", "region_id": "region:Central"},
        {"rep_id": "m2", "manager_id": None, "team_id": "team:M2", "region_id": "region:West"},
    ]
    reps += [
        {"rep_id": r, "manager_id": "m1", "team_id": "team:M1", "region_id": "region:Central"}
        for r in (*CENTRAL_REPS, IDLE_REP)
    ]
    reps += [
        {"rep_id": r, "manager_id": "m2", "team_id": "team:M2", "region_id": "region:West"}
        for r in WEST_REPS
    ]
    for rep in reps:
        rep.update(name=rep["rep_id"].title(), role="AE", currency="USD", hire_date=None)
    return {"org_units": units, "reps": reps}


def default_deals() -> list[Deal]:
    """Won and lost deals over 2017-03..2017-08, open engaging and prospecting deals."""
    deals: list[Deal] = []
    reps = (*CENTRAL_REPS, *WEST_REPS)
    n = 0
    for month in range(3, 9):
        for i, rep in enumerate(reps):
            for k in range(2):
                n += 1
                engaged = date(2017, month, 1) - timedelta(days=10 + 7 * k + i)
                closed = date(2017, month, 3 + 5 * k + i)
                won = (n + k) % 3 != 0
                amount = Decimal(1000 + 137 * n + 500 * i) if won else Decimal(0)
                deals.append(
                    Deal(f"D{n:03d}", rep, "won" if won else "lost", engaged, closed, amount)
                )
    deals.append(Deal("OPEN1", "anna", "open", date(2017, 8, 20), None, None))
    deals.append(Deal("OPEN2", "carla", "open", date(2017, 8, 25), None, None))
    deals.append(Deal("PROS1", "bob", "open", None, None, None))
    deals.append(Deal("PROS2", "dan", "open", None, None, None))
    return deals


def maven_like_tables(
    deals: list[Deal] | None = None,
    lead_outcomes: list[bool | None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Canonical tables with the Maven / X Education gaps, all rows real."""
    deals = default_deals() if deals is None else deals
    lead_outcomes = (
        [True, False, True, None, False, True] if lead_outcomes is None else lead_outcomes
    )
    raw = org_and_reps()
    raw["accounts"] = [{"account_id": "acme", "name": "Acme", "sector": "retail"}]
    raw["products"] = [
        {"product_id": "gtx", "name": "GTX", "category": "GTX", "list_price": Decimal(550)}
    ]
    raw["opportunities"] = [
        {
            "opportunity_id": d.opportunity_id,
            "rep_id": d.rep_id,
            "account_id": "acme" if d.outcome != "open" else None,
            "product_id": "gtx",
            "stage": d.outcome
            if d.outcome != "open"
            else ("engaging" if d.engaged else "prospecting"),
            "outcome": d.outcome,
            "amount": d.amount,
            "currency": "USD",
            "created_at": None,
            "engaged_at": _utc(d.engaged),
            "closed_at": _utc(d.closed),
        }
        for d in deals
    ]
    raw["transactions"] = [
        {
            "transaction_id": d.opportunity_id,
            "rep_id": d.rep_id,
            "amount": d.amount,
            "currency": "USD",
            "credit_date": pd.Timestamp(d.closed),
            "share": Decimal(1),
            "opportunity_id": d.opportunity_id,
        }
        for d in deals
        if d.outcome == "won"
    ]
    raw["leads"] = [
        {
            "lead_id": f"L{i:04d}",
            "created_at": None,
            "lead_source": "google",
            "converted": outcome,
        }
        for i, outcome in enumerate(lead_outcomes)
    ]
    tables = {name: empty_frame(name) for name in ("stage_history", "quotas", "fx_rates")}
    for name, rows in raw.items():
        source = LEAD_SOURCE if name == "leads" else SOURCE
        for row in rows:
            row.setdefault("source", source)
            row.setdefault("is_synthetic", False)
        columns = [c.name for c in CANONICAL_TABLES[name].columns if c.required]
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
        tables[name] = conform_frame(frame, name)
    return tables
