"""docs/data-model.md embeds the tables generated from schema.py and must not drift."""

from __future__ import annotations

from pathlib import Path

from features.ingest.docs import BEGIN_MARKER, END_MARKER, splice_generated
from features.ingest.schema import CANONICAL_TABLES

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-model.md"


def test_data_model_doc_matches_schema() -> None:
    text = DOC.read_text("utf-8")
    assert BEGIN_MARKER in text and END_MARKER in text
    assert splice_generated(text) == text, (
        "docs/data-model.md is out of date: run `.venv/bin/python -m features.ingest.docs`"
    )
    for name, table in CANONICAL_TABLES.items():
        assert f"### `{name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text
