"""Invariants of the import: amounts written as text come back as the same exact
Decimals after mapping + Parquet storage; dedupe keeps + rejects every row once."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from features.ingest.importer import import_files
from features.ingest.mapping import parse_mapping
from features.ingest.storage import open_store
from features.ingest.transform import transform

MAPPING = """
version: 1
source: prop
files:
  - match: "reps.csv"
    outputs:
      - table: reps
        columns: {rep_id: id, currency: {value: JPY}}
  - match: "tx.csv"
    outputs:
      - table: transactions
        columns:
          transaction_id: id
          rep_id: {value: r1}
          amount: amount
          currency: {value: JPY}
          credit_date: {value: "2024-01-31"}
          share: {value: "1"}
"""

amounts = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), places=6, allow_nan=False
).map(lambda d: d.normalize() if d == d.to_integral_value() else d)


@settings(max_examples=15, deadline=None)
@given(st.lists(amounts, min_size=1, max_size=20))
def test_amount_text_round_trips_exactly(values: list[Decimal]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mapping = root / "m.yaml"
        mapping.write_text(MAPPING, "utf-8")
        (root / "reps.csv").write_text("id\nr1\n", "utf-8")
        lines = ["id,amount", *(f"t{i},{v}" for i, v in enumerate(values))]
        (root / "tx.csv").write_text("\n".join(lines) + "\n", "utf-8")
        store = open_store(root / "data")
        import_files(store, mapping, [root / "reps.csv", root / "tx.csv"])
        back = store.read_table("transactions")["amount"].tolist()
    assert back == values
    assert sum(back, Decimal(0)) == sum(values, Decimal(0))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b"])), min_size=1, max_size=30))
def test_dedupe_keeps_or_rejects_every_row_once(rows: list[tuple[int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        path.write_text("n,x\n" + "".join(f"{n},{x}\n" for n, x in rows), "utf-8")
        mapping = parse_mapping(
            {"source": "d", "files": [{"match": "d.csv", "dedupe": {"key": "n"}, "outputs": [
                {"table": "reps", "columns": {"rep_id": "n", "currency": {"value": "USD"}}}]}]}
        )  # fmt: skip
        result = transform(mapping, [path])
    kept = result.tables["reps"]
    rejected = result.report.rejections
    assert len(kept) + len(rejected) == len(rows)
    assert sorted(kept["rep_id"]) == sorted({str(n) for n, _ in rows})
    assert sorted(kept["_src_row"].tolist() + [r.row for r in rejected]) == list(
        range(2, len(rows) + 2)
    )
