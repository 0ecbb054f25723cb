"""examples/plans/maven-ae-2025.yaml on the real Maven CRM won deals, with our own small quota file
(the synthetic quota enrichment is another engineer's; this keeps the plan honest meanwhile)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from spm_domain.commissions import calculate_commissions

ROOT = Path(__file__).resolve().parents[3]


def _maven_tables(shared_dir: Path) -> dict[str, pd.DataFrame]:
    data = shared_dir / "data" / "maven_crm_sales_opportunities"
    pipeline = pd.read_csv(data / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    products = pd.read_csv(data / "products.csv", dtype=str, keep_default_na=False)
    teams = pd.read_csv(data / "sales_teams.csv", dtype=str, keep_default_na=False)
    series = {
        p.replace(" ", ""): s for p, s in zip(products["product"], products["series"], strict=True)
    }
    won = pipeline[pipeline["deal_stage"] == "Won"]
    transactions = pd.DataFrame(
        {
            "transaction_id": won["opportunity_id"],
            "rep_id": won["sales_agent"],
            "amount": won["close_value"],
            "currency": "USD",
            "credit_date": won["close_date"],
            "product_id": won["product"],
            "category": won["product"].str.replace(" ", "").map(series),
        }
    )
    agents = sorted(set(teams["sales_agent"]))
    quotas = pd.DataFrame(
        [
            {"rep_id": a, "period": f"2017-Q{q}", "quota": "100000", "measure": "revenue"}
            for a in agents
            for q in range(1, 5)
        ]
    )
    roster = pd.DataFrame(
        {"rep_id": teams["sales_agent"], "manager_id": teams["manager"], "role": "AE"}
    )
    managers = pd.DataFrame(
        {"rep_id": sorted(set(teams["manager"])), "manager_id": "", "role": "Manager"}
    )
    return {"transactions": transactions, "quotas": quotas, "roster": pd.concat([roster, managers])}


def test_maven_plan_pays_won_deals(shared_dir: Path) -> None:
    t = _maven_tables(shared_dir)
    result = calculate_commissions(
        ROOT / "examples" / "plans" / "maven-ae-2025.yaml",
        t["transactions"],
        t["quotas"],
        t["roster"],
    )
    lines, statements = result.lines, result.statements
    assert sum(statements["credited"], Decimal(0)) == Decimal("10005534")
    overrides = lines[lines["component"] == "manager_override"]
    assert sum(overrides["amount"], Decimal(0)) == Decimal("100055.34")  # 1% of all won revenue
    assert set(overrides["rep_id"]) == set(t["roster"].query("role == 'Manager'")["rep_id"])
    assert sum(statements["payout"], Decimal(0)) == sum(lines["amount"], Decimal(0))
    assert (statements["payout"] <= Decimal(60000)).all()  # the cap holds per statement
    assert len(statements[statements["quota"].notna()]) == 35 * 4
    club = lines[lines["component"] == "quota_club"]
    reached = statements[statements["attainment"].map(lambda a: a is not None and a >= 1)]
    assert set(zip(club["rep_id"], club["period"], strict=True)) == set(
        zip(reached["rep_id"], reached["period"], strict=True)
    )
