"""The key store and the roster on the machine's PostgreSQL (one schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from serving.adapters.key_store import SqlKeyStore
from serving.adapters.team_directory import SqlTeamDirectory
from serving.security import Role, authenticate, issue_key

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = f"spm_t_{uuid.uuid4().hex}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


def test_key_store_on_postgres(postgres_url: str, schema: str) -> None:
    store = SqlKeyStore(postgres_url, schema=schema)
    issued = issue_key(Role.MANAGER, "M1", "pg")
    store.add(issued.record)
    assert authenticate(store, issued.plain_key).rep_id == "M1"
    assert store.describe() == "postgresql"
    assert store.revoke(issued.record.key_id, datetime.now(UTC))
    assert store.list()[0].revoked_at is not None
    store.ping()
    store.dispose()


def test_roster_from_the_canonical_reps_table(postgres_url: str, schema: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f'CREATE TABLE "{schema}".reps (rep_id text primary key, manager_id text, name text)'
            )
        )
        conn.execute(
            sa.text(f'INSERT INTO "{schema}".reps VALUES (:r, :m, :n)'),
            [
                {"r": "M1", "m": None, "n": "a"},
                {"r": "M2", "m": "M1", "n": "b"},
                {"r": "R2", "m": "M2", "n": "c"},
            ],
        )
    engine.dispose()
    directory = SqlTeamDirectory(postgres_url, schema=schema)
    assert directory.team_of("M1") == {"M2", "R2"}
    assert directory.team_of("R2") == frozenset()
    assert "127.0.0.1" not in directory.describe()
