"""The canonical store on the machine's PostgreSQL: every table of the shared data
round-trips exactly (NUMERIC decimals, TIMESTAMPTZ), and writes are all-or-nothing.
Each test uses its own schema, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.ingest.importer import import_files
from features.ingest.quality import ImportValidationError
from features.ingest.schema import CANONICAL_TABLES
from features.ingest.storage import PostgresStore, StoreError, open_store

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[PostgresStore]:
    schema = f"spm_t_{uuid.uuid4().hex}"
    store = open_store(f"{postgres_url}?schema={schema}")
    assert isinstance(store, PostgresStore)
    try:
        yield store
    finally:
        with sa.create_engine(postgres_url).begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        store.dispose()


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    key = list(CANONICAL_TABLES[name].primary_key)
    return frame.sort_values(key).reset_index(drop=True)


def test_shared_data_round_trips_exactly(pg_store: PostgresStore, shared_import_dir: Path) -> None:
    parquet = open_store(shared_import_dir)
    tables = {name: parquet.read_table(name) for name in parquet.table_names()}
    assert len(tables) == 8
    pg_store.write_tables(tables)
    assert pg_store.table_names() == parquet.table_names()
    for name, expected in tables.items():
        actual = pg_store.read_table(name)
        pd.testing.assert_frame_equal(_sorted(actual, name), _sorted(expected, name))
    amounts = _sorted(pg_store.read_table("transactions"), "transactions")["amount"]
    assert all(isinstance(a, Decimal) for a in amounts)
    assert sum(amounts) == sum(tables["transactions"]["amount"])
    opps = pg_store.read_table("opportunities")
    assert str(opps["closed_at"].dtype) == "datetime64[ns, UTC]"


def test_failed_import_leaves_postgres_unchanged(pg_store: PostgresStore, tmp_path: Path) -> None:
    mapping = ROOT / "features" / "ingest" / "mappings" / "examples" / "hubspot_deals.yaml"
    samples = sorted((ROOT / "tests" / "fixtures" / "crm" / "hubspot").glob("*.csv"))
    import_files(pg_store, mapping, samples)
    before = {n: pg_store.read_table(n) for n in pg_store.table_names()}
    report_before = pg_store.read_quality_report()

    bad = tmp_path / "deals.csv"
    bad.write_text(samples[0].read_text("utf-8").replace("24000,USD", "24000,XXX"), "utf-8")
    with pytest.raises(ImportValidationError, match="unknown currency"):
        import_files(pg_store, mapping, [samples[1], bad])

    # A failure in the middle of the write itself (duplicate key hits the primary key
    # constraint after reps were already replaced) rolls the whole transaction back.
    reps = before["reps"].assign(name="changed")
    dup = pd.concat([before["transactions"]] * 2, ignore_index=True)
    with pytest.raises(StoreError, match="duplicate key"):
        pg_store.write_tables({"reps": reps, "transactions": dup})

    after = {n: pg_store.read_table(n) for n in pg_store.table_names()}
    assert after.keys() == before.keys()
    for name in before:
        pd.testing.assert_frame_equal(after[name], before[name])
    assert pg_store.read_quality_report() == report_before
