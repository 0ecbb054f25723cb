"""The Parquet store: exact decimals, UTC timestamps, atomic replace."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from features.ingest.storage import ParquetStore, StoreError, open_store


def _transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": ["t1", "t2"],
            "rep_id": ["r1", "r2"],
            "amount": [Decimal("0.10"), Decimal("12345678901234567890.123456")],
            "currency": ["USD", "JPY"],
            "credit_date": pd.to_datetime(["2020-01-31", "2020-02-29"]),
            "share": [Decimal("1"), Decimal("1")],
            "source": ["test", "test"],
            "is_synthetic": [False, False],
            "attr_note": ["a", None],
        }
    )


def test_open_store_picks_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path), ParquetStore)
    with pytest.raises(StoreError):
        open_store("mysql://nope")


def test_parquet_round_trip_is_exact(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.write_tables({"transactions": _transactions()})
    back = store.read_table("transactions")
    assert (tmp_path / "canonical" / "transactions.parquet").is_file()
    assert list(back["amount"]) == [Decimal("0.10"), Decimal("12345678901234567890.123456")]
    assert all(isinstance(v, Decimal) for v in back["amount"])
    assert back["credit_date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-31", "2020-02-29"]
    assert back["attr_note"].tolist()[0] == "a" and pd.isna(back["attr_note"].tolist()[1])
    assert store.table_names() == ["transactions"]


def test_missing_table_reads_empty_with_schema(tmp_path: Path) -> None:
    reps = open_store(tmp_path).read_table("reps")
    assert len(reps) == 0 and "manager_id" in reps.columns
    with pytest.raises(KeyError):
        open_store(tmp_path).read_table("nope")


def test_failed_write_leaves_store_unchanged(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.write_tables({"transactions": _transactions()})
    before = store.read_table("transactions")
    bad = _transactions().assign(amount=[1.5, 2.5])  # floats are refused
    with pytest.raises(TypeError):
        store.write_tables({"transactions": bad, "reps": pd.DataFrame()})
    pd.testing.assert_frame_equal(store.read_table("transactions"), before)
    assert store.table_names() == ["transactions"]
    assert [p.name for p in (tmp_path / ".canonical_versions").iterdir()] == [
        (tmp_path / "canonical").resolve().name
    ]


def test_append_and_untouched_tables(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.write_tables({"transactions": _transactions()})
    more = _transactions().assign(transaction_id=["t3", "t4"])
    store.write_tables({"transactions": more}, mode="append")
    assert store.read_table("transactions")["transaction_id"].tolist() == ["t1", "t2", "t3", "t4"]
    fx = pd.DataFrame(
        {
            "period": ["2020-01"],
            "from_currency": ["EUR"],
            "to_currency": ["USD"],
            "rate": [Decimal("1.1234")],
            "source": ["test"],
            "is_synthetic": [False],
        }
    )
    store.write_tables({"fx_rates": fx})
    assert len(store.read_table("transactions")) == 4
    assert store.summary()["tables"]["transactions"]["rows"] == 4
