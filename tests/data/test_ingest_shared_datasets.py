"""All shared datasets import with the shipped mappings; row counts, sums and keys
are checked against the source files themselves (read here with the csv module)."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from features.ingest.importer import ImportResult, import_shared_datasets
from features.ingest.storage import CanonicalStore, open_store
from features.ingest.validation import validate_tables


def _rows(path: Path, **kwargs: str) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
        return list(csv.DictReader(handle, **kwargs))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def imported(
    shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[CanonicalStore, ImportResult]:
    store = open_store(tmp_path_factory.mktemp("shared") / "data")
    return store, import_shared_datasets(shared_dir, store)


@pytest.fixture(scope="module")
def tables(imported: tuple[CanonicalStore, ImportResult]) -> dict[str, pd.DataFrame]:
    store, _ = imported
    return {name: store.read_table(name) for name in store.table_names()}


def _of(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    return frame[frame["source"] == source]


def test_every_dataset_imported_and_store_is_consistent(
    imported: tuple[CanonicalStore, ImportResult], tables: dict[str, pd.DataFrame]
) -> None:
    _, result = imported
    assert result.sources == [
        "adventureworks_oltp2014", "adventureworks_pl300", "ibm_win_loss", "maven_crm",
        "superstore", "x_education",
    ]  # fmt: skip
    assert validate_tables(tables) == []  # keys, references, vocabularies, currencies, cycles
    for frame in tables.values():
        assert not frame["is_synthetic"].any()


def test_maven(shared_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    folder = shared_dir / "data" / "maven_crm_sales_opportunities"
    pipeline = _rows(folder / "sales_pipeline.csv")
    teams = _rows(folder / "sales_teams.csv")
    opps = _of(tables["opportunities"], "maven_crm")
    assert len(opps) == len(pipeline) == 8800
    assert Counter(opps["stage"]) == {
        "won": 4238,
        "lost": 2473,
        "engaging": 1589,
        "prospecting": 500,
    }
    tx = _of(tables["transactions"], "maven_crm")
    assert len(tx) == 4238
    won_total = sum(Decimal(r["close_value"]) for r in pipeline if r["deal_stage"] == "Won")
    assert sum(tx["amount"]) == won_total == Decimal("10005534")
    reps = _of(tables["reps"], "maven_crm")
    assert (reps["role"] == "AE").sum() == len(teams) == 35
    assert set(reps.loc[reps["role"] == "Manager", "rep_id"]) == {r["manager"] for r in teams}
    assert set(tx["rep_id"]) <= set(reps["rep_id"])
    assert (opps["product_id"] == "GTXPro").sum() == 0  # cleaned to `GTX Pro`
    accounts = _of(tables["accounts"], "maven_crm")
    assert "technolgy" not in set(accounts["sector"])
    units = _of(tables["org_units"], "maven_crm")
    assert Counter(units["kind"]) == {"company": 1, "region": 3, "team": 6}


def test_x_education(shared_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    rows = _rows(shared_dir / "data" / "x_education_leads" / "Leads.csv")
    leads = _of(tables["leads"], "x_education")
    assert len(leads) == len(rows) == 9240
    assert int(leads["converted"].sum()) == sum(r["Converted"] == "1" for r in rows) == 3561
    for leaky in (
        "attr_tags",
        "attr_lead_quality",
        "attr_lead_profile",
        "attr_asymmetrique_activity_index",
    ):
        assert leaky in leads.columns
    assert "Select" not in set(leads["city"].dropna())
    assert leads["attr_specialization"].isna().sum() >= 1942


def test_ibm_duplicates_rejected_and_reported(
    shared_dir: Path, imported: tuple[CanonicalStore, ImportResult], tables: dict[str, pd.DataFrame]
) -> None:
    rows = _rows(shared_dir / "data" / "ibm_sales_win_loss" / "sales_win_loss.csv.gz")
    assert len(rows) == 78025
    numbers = Counter(r["Opportunity Number"] for r in rows)
    opps = _of(tables["opportunities"], "ibm_win_loss")
    assert len(opps) == len(numbers) == 77829
    report = imported[1].report.sources["ibm_win_loss"]
    assert len(report.rejections) == 78025 - 77829 == 196
    exact = [r for r in report.rejections if "exact duplicate" in r.reason]
    assert len(exact) == 55
    assert Counter(opps["outcome"])["won"] == len(
        {r["Opportunity Number"] for r in rows if r["Opportunity Result"] == "Won"}
    )
    assert opps["closed_at"].isna().all() and opps["created_at"].isna().all()


def test_adventureworks(shared_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    folder = shared_dir / "data" / "adventureworks_sales_targets" / "pl300_dw2020"
    fact = _rows(folder / "FactResellerSales.csv")
    june = _rows(folder / "ResellerSales_202006.csv")
    tx = _of(tables["transactions"], "adventureworks_pl300")
    assert len(tx) == len(fact) + len(june) == 57851 + 3004
    assert sum(tx["amount"]) == sum(Decimal(r["SalesAmount"]) for r in fact + june)
    assert sum(Decimal(r["SalesAmount"]) for r in fact) == Decimal("77548570.20")
    targets = _rows(folder / "ResellerSalesTargets.csv")
    cells = [(r, f"M{m:02d}") for r in targets for m in range(1, 13) if r[f"M{m:02d}"] != "-"]
    quotas = _of(tables["quotas"], "adventureworks_pl300")
    assert len(quotas) == len(cells)
    assert sum(quotas["quota"]) == sum(Decimal(r[c]) * 1000 for r, c in cells)
    first = quotas[(quotas["rep_id"] == "aw-286") & (quotas["period"] == "2017-07")]
    assert first["quota"].tolist() == [Decimal("200000")]  # 2017 M07 of EmployeeID 61161660
    assert len(_of(tables["reps"], "adventureworks_pl300")) == 18
    oltp = _of(tables["quotas"], "adventureworks_oltp2014")
    assert len(oltp) == 163 and oltp["rep_id"].str.startswith("aw2014-").all()
    assert not set(oltp["rep_id"]) & set(_of(tables["reps"], "adventureworks_pl300")["rep_id"])


def test_superstore(shared_dir: Path, tables: dict[str, pd.DataFrame]) -> None:
    rows = _rows(shared_dir / "data" / "superstore_sales" / "Sample_Superstore.csv")
    tx = _of(tables["transactions"], "superstore")
    assert len(tx) == len(rows) == 9994
    assert sum(tx["amount"]) == sum(Decimal(r["Sales"]) for r in rows)
    assert round(sum(tx["amount"]), 2) == Decimal("2297200.86")
    assert round(sum(tx["margin"]), 2) == Decimal("286397.02")
    assert len(_of(tables["accounts"], "superstore")) == 793
    assert len(_of(tables["products"], "superstore")) == 1862
    assert set(tx["rep_id"]) == {
        f"superstore:rep:{r}" for r in ("Central", "East", "South", "West")
    }


def test_report_counts_every_source_row(
    shared_dir: Path, imported: tuple[CanonicalStore, ImportResult]
) -> None:
    """No file loses rows on reading (e.g. a header-less file read with a header)."""
    data = shared_dir / "data"
    headerless = {"SalesPerson.csv", "SalesPersonQuotaHistory.csv", "SalesTerritory.csv",
                  "SalesTerritoryHistory.csv"}  # fmt: skip
    seen = 0
    for report in imported[1].report.sources.values():
        for name, rows in report.files.items():
            (path,) = [p for p in data.rglob(name)]
            opener = gzip.open if path.suffix == ".gz" else open
            delimiter = "\t" if name in headerless else ","
            with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
                records = sum(1 for _ in csv.reader(handle, delimiter=delimiter))
            assert rows == records - (0 if name in headerless else 1), name
            seen += 1
    assert seen == 20  # 5 Maven + 1 X Education + 8 PL-300 + 4 OLTP + 1 Superstore + 1 IBM
