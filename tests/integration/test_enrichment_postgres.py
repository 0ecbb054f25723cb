"""Enriched tables on the machine's PostgreSQL: flags, synthetic rows and the exact
converted amounts (NUMERIC) survive a round trip; `spm synthetic enrich --store`
works against it. Each test uses its own schema, dropped afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from features.ingest.enrichment import SOURCE_AMOUNT, enrich
from features.ingest.schema import CANONICAL_TABLES
from features.ingest.storage import PostgresStore, open_store
from spm_cli.main import app
from tests.enrichment_checks import assert_exact_conversion
from tests.enrichment_frames import maven_like_tables

pytestmark = pytest.mark.postgres


@pytest.fixture
def store_url(postgres_url: str) -> Iterator[str]:
    schema = f"spm_t_{uuid.uuid4().hex}"
    try:
        yield f"{postgres_url}?schema={schema}"
    finally:
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    key = list(CANONICAL_TABLES[name].primary_key)
    return frame.sort_values(key).reset_index(drop=True)


def test_enriched_tables_round_trip_exactly(store_url: str) -> None:
    result = enrich(maven_like_tables())
    store = open_store(store_url)
    assert isinstance(store, PostgresStore)
    try:
        store.write_tables(result.tables)
        back = {name: store.read_table(name) for name in result.tables}
    finally:
        store.dispose()
    for name, frame in result.tables.items():
        a, b = _sorted(frame, name), _sorted(back[name], name)
        for column in ("is_synthetic", "synthetic_fields"):
            pd.testing.assert_series_equal(a[column], b[column], check_exact=True)
    assert_exact_conversion(back)
    converted = back["transactions"][SOURCE_AMOUNT].notna()
    assert converted.any() and set(back["transactions"].loc[converted, "currency"]) == {"EUR"}


def test_cli_enriches_a_postgres_store(store_url: str) -> None:
    store = open_store(store_url)
    assert isinstance(store, PostgresStore)
    try:
        store.write_tables(maven_like_tables())
    finally:
        store.dispose()
    result = CliRunner().invoke(app, ["-q", "synthetic", "enrich", "--store", store_url, "--json"])
    assert result.exit_code == 0, result.output
    assert "quotas" in json.loads(result.stdout)["updated_tables"]
    store = open_store(store_url)
    assert isinstance(store, PostgresStore)
    try:
        assert store.read_table("quotas")["is_synthetic"].all()
    finally:
        store.dispose()
