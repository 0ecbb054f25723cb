"""A tiny, hand-checkable canonical dataset (two reps, a handful of deals).

Used by the feature-store tests and as a smoke dataset for `spm features`
before a real import exists. Values are chosen so the rolling windows can be
computed by hand (see tests/unit/test_feature_tables.py).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

SAMPLE_SOURCE = "sample"


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _provenance(frame: pd.DataFrame) -> pd.DataFrame:
    frame["source"] = SAMPLE_SOURCE
    frame["is_synthetic"] = True
    return frame


def sample_canonical_tables() -> dict[str, pd.DataFrame]:
    """Canonical frames (schema of `features.ingest.schema`) for two reps in Q1 2024."""
    org_units = pd.DataFrame(
        {
            "unit_id": ["company:acme", "region:east", "team:alpha"],
            "kind": ["company", "region", "team"],
            "name": ["Acme", "East", "Alpha"],
            "parent_id": [None, "company:acme", "region:east"],
        }
    )
    reps = pd.DataFrame(
        {
            "rep_id": ["r1", "r2"],
            "name": ["Ann", "Bob"],
            "manager_id": [None, "r1"],
            "team_id": ["team:alpha", "team:alpha"],
            "region_id": ["region:east", "region:east"],
            "role": ["AE", "AE"],
            "hire_date": pd.to_datetime(["2023-01-01", "2023-06-01"]),
            "termination_date": pd.to_datetime([None, None]),
            "currency": ["USD", "USD"],
        }
    )
    accounts = pd.DataFrame(
        {
            "account_id": ["a1", "a2"],
            "name": ["Globex", "Initech"],
            "sector": ["software", "retail"],
            "employees": pd.array([1200, 40], dtype="Int64"),
            "annual_revenue": [Decimal("5000000.00"), None],
            "revenue_currency": ["USD", None],
            "country": ["US", "DE"],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2"],
            "name": ["Basic", "Pro"],
            "category": ["core", "core"],
            "list_price": [Decimal("100.00"), Decimal("250.50")],
            "currency": ["USD", "USD"],
        }
    )
    opportunities = pd.DataFrame(
        {
            "opportunity_id": ["o1", "o2", "o3", "o4", "o5"],
            "rep_id": ["r1", "r1", "r1", "r2", "r2"],
            "account_id": ["a1", "a2", "a1", "a2", None],
            "product_id": ["p1", "p2", "p1", "p2", "p1"],
            "stage": ["won", "lost", "won", "won", "proposal"],
            "outcome": ["won", "lost", "won", "won", "open"],
            "amount": [
                Decimal("1000.00"),
                Decimal("0"),
                Decimal("500.25"),
                Decimal("2000.00"),
                Decimal("750.00"),
            ],
            "currency": ["USD"] * 5,
            "created_at": [
                _ts("2024-01-01 09:00"),
                _ts("2024-01-03 10:00"),
                _ts("2024-01-20 10:00"),
                _ts("2024-01-05 08:00"),
                _ts("2024-02-01 12:00"),
            ],
            "engaged_at": [_ts("2024-01-05 09:00"), None, None, None, None],
            "closed_at": [
                _ts("2024-01-11 15:00"),
                _ts("2024-01-13 10:00"),
                _ts("2024-03-05 10:00"),
                _ts("2024-02-04 08:00"),
                None,
            ],
            "lead_source": ["web", "referral", "web", "event", "web"],
        }
    )
    stage_history = pd.DataFrame(
        {
            "opportunity_id": ["o4", "o4", "o4", "o5", "o5"],
            "changed_at": [
                _ts("2024-01-05 08:00"),
                _ts("2024-01-15 08:00"),
                _ts("2024-02-04 08:00"),
                _ts("2024-02-01 12:00"),
                _ts("2024-02-10 12:00"),
            ],
            "from_stage": [None, "prospecting", "negotiation", None, "prospecting"],
            "to_stage": ["prospecting", "negotiation", "won", "prospecting", "proposal"],
        }
    )
    transactions = pd.DataFrame(
        {
            "transaction_id": ["o1", "o3", "o4", "o4"],
            "rep_id": ["r1", "r1", "r2", "r1"],
            "amount": [
                Decimal("1000.00"),
                Decimal("500.25"),
                Decimal("2000.00"),
                Decimal("2000.00"),
            ],
            "currency": ["USD"] * 4,
            "credit_date": pd.to_datetime(["2024-01-11", "2024-03-05", "2024-02-04", "2024-02-04"]),
            "share": [Decimal("1"), Decimal("1"), Decimal("0.75"), Decimal("0.25")],
            "opportunity_id": ["o1", "o3", "o4", "o4"],
            "cancel_date": pd.to_datetime([None, None, None, "2024-02-20"]),
        }
    )
    quotas = pd.DataFrame(
        {
            "rep_id": ["r1", "r1", "r2"],
            "period": ["2024-01", "2024-Q1", "2024-02"],
            "measure": ["revenue", "revenue", "revenue"],
            "quota": [Decimal("2000.00"), Decimal("9000.00"), Decimal("1000.00")],
            "currency": ["USD", "USD", "USD"],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": ["l1", "l2", "l3"],
            "created_at": [_ts("2024-01-02 10:00"), _ts("2024-01-10 10:00"), None],
            "lead_source": ["google", "referral", "olark chat"],
            "lead_origin": ["landing page submission", "api", None],
            "owner_rep_id": ["r1", None, None],
            "country": ["india", "india", None],
            "total_visits": [5.0, None, 2.0],
            "time_on_site_seconds": [300.0, 0.0, 45.0],
            "page_views_per_visit": [2.5, None, 1.0],
            "do_not_email": pd.array([False, True, False], dtype="boolean"),
            "do_not_call": pd.array([False, False, False], dtype="boolean"),
            "converted": pd.array([True, False, None], dtype="boolean"),
            "attr_specialization": ["finance management", None, "select"],
            "attr_tags": ["closed by horizzon", "ringing", None],  # leaky: never a feature
        }
    )
    return {
        name: _provenance(frame)
        for name, frame in {
            "org_units": org_units,
            "reps": reps,
            "accounts": accounts,
            "products": products,
            "opportunities": opportunities,
            "stage_history": stage_history,
            "transactions": transactions,
            "quotas": quotas,
            "leads": leads,
        }.items()
    }


class InMemoryCanonicalStore:
    """A canonical store over frames in memory (same read API as `features.ingest.storage`)."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self._tables = tables
        self.location = "memory"

    def table_names(self) -> list[str]:
        return list(self._tables)

    def read_table(self, name: str) -> pd.DataFrame:
        return self._tables[name].copy()
