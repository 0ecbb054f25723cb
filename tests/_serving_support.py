"""Shared set-up of the serving tests: a real SQLite key store and a small
canonical `reps.parquet` in a temp dir, one key per role, and the spec's
worked example as request bodies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from serving.security import Principal, Role, issue_key
from serving.settings import ServingSettings

# M1 manages R1 and (through M2) R2; R9 is outside M1's team.
REPS = {"M1": None, "M2": "M1", "R1": "M1", "R2": "M2", "M9": None, "R9": "M9"}

WORKED_PLAN: dict[str, Any] = {
    "plan": "worked-example",
    "name": "Worked example",
    "currency": "USD",
    "period": "quarterly",
    "components": [
        {
            "name": "commission",
            "type": "tiered",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [
                {"upto": "0.5", "rate": "0"},
                {"upto": "1.0", "rate": "0.08"},
                {"upto": "1.5", "rate": "0.12"},
                {"rate": "0.15"},
            ],
        }
    ],
    "rounding": "half_up",
}


def transactions(rep_id: str = "R1") -> list[dict[str, str]]:
    rows = [
        ("A", "30000.00", "2025-01-10"),
        ("B", "50000.00", "2025-02-03"),
        ("C", "45000.00", "2025-03-20"),
    ]
    return [
        {"transaction_id": f"{rep_id}-{t}", "rep_id": rep_id, "amount": a, "currency": "USD", "credit_date": d}
        for t, a, d in rows
    ]  # fmt: skip


def quotas(rep_id: str = "R1") -> list[dict[str, str]]:
    return [{"rep_id": rep_id, "period": "2025-Q1", "quota": "100000.00"}]


def calculate_body(rep_id: str = "R1") -> dict[str, Any]:
    return {"plan": WORKED_PLAN, "transactions": transactions(rep_id), "quotas": quotas(rep_id)}


def estimate_body(rep_id: str = "R1") -> dict[str, Any]:
    return {
        "plan": WORKED_PLAN,
        "rep_id": rep_id,
        "transactions": transactions(rep_id)[:2],
        "quotas": quotas(rep_id),
        "open_deals": [
            {"transaction_id": f"{rep_id}-D", "amount": "20000.00", "currency": "USD",
             "credit_date": "2025-03-28", "probability": "0.6"}
        ],
    }  # fmt: skip


def quota_body(rep_id: str = "R1") -> dict[str, Any]:
    return {
        "currency": "USD",
        "transactions": transactions(rep_id),
        "quotas": quotas(rep_id),
        "as_of": "2025-02-15T00:00:00Z",
    }


def write_reps(data_dir: Path) -> Path:
    path = data_dir / "canonical" / "reps.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"rep_id": list(REPS), "manager_id": list(REPS.values())})
    pq.write_table(table, path)
    return path


def serving_settings(data_dir: Path, **overrides: Any) -> ServingSettings:
    write_reps(data_dir)
    return ServingSettings(
        data_dir=data_dir,
        key_store_url=f"sqlite:///{data_dir / 'keys.sqlite'}",
        **overrides,
    )


# The principal each role's key acts for (rep and manager keys are bound to a rep).
ROLE_REP = {Role.REP: "R1", Role.MANAGER: "M1"}


@dataclass(frozen=True)
class RoleKey:
    role: Role
    plain: str
    principal: Principal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.plain}"}


def add_role_keys(store: Any) -> dict[Role, RoleKey]:
    keys: dict[Role, RoleKey] = {}
    for role in Role:
        issued = issue_key(role, ROLE_REP.get(role), f"test {role.value}")
        store.add(issued.record)
        keys[role] = RoleKey(role, issued.plain_key, issued.record.principal())
    return keys
