"""API keys are stored hashed, authenticate exactly, and roles scope the reps a caller sees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from serving.adapters.key_store import TABLE_NAME, SqlKeyStore
from serving.adapters.team_directory import (
    InMemoryTeamDirectory,
    ParquetTeamDirectory,
    build_reports,
)
from serving.errors import ForbiddenError, UnauthenticatedError
from serving.security import (
    Role,
    api_key_from_headers,
    authenticate,
    authenticate_cached,
    authorize_reps,
    issue_key,
    visible_reps,
)


@pytest.fixture
def store(tmp_path: Path) -> SqlKeyStore:
    return SqlKeyStore(f"sqlite:///{tmp_path / 'keys.sqlite'}")


def test_key_is_stored_hashed_and_authenticates(store: SqlKeyStore, tmp_path: Path) -> None:
    issued = issue_key(Role.MANAGER, "M1", "ops")
    store.add(issued.record)
    secret = issued.plain_key.split("_", 2)[2]
    with sa.create_engine(f"sqlite:///{tmp_path / 'keys.sqlite'}").connect() as conn:
        rows = conn.execute(sa.text(f"select * from {TABLE_NAME}")).all()
    stored = " ".join(str(v) for v in rows[0])
    assert secret not in stored and issued.plain_key not in stored
    principal = authenticate(store, issued.plain_key)
    assert (principal.role, principal.rep_id, principal.key_id) == (
        Role.MANAGER,
        "M1",
        issued.record.key_id,
    )


@pytest.mark.parametrize(
    "presented",
    [None, "", "garbage", "spm__x", "spm_000000000000_nope", "Bearer spm_x_y"],
)
def test_missing_malformed_or_unknown_keys_are_401(
    store: SqlKeyStore, presented: str | None
) -> None:
    with pytest.raises(UnauthenticatedError):
        authenticate(store, presented)


def test_wrong_secret_for_a_real_id_is_401(store: SqlKeyStore) -> None:
    issued = issue_key(Role.ADMIN)
    store.add(issued.record)
    forged = f"spm_{issued.record.key_id}_{'x' * 43}"
    with pytest.raises(UnauthenticatedError, match="not valid"):
        authenticate(store, forged)


def test_revoked_key_stops_working_at_once(store: SqlKeyStore) -> None:
    issued = issue_key(Role.SERVICE, label="crm")
    store.add(issued.record)
    assert authenticate(store, issued.plain_key).role is Role.SERVICE
    assert store.revoke(issued.record.key_id, datetime.now(UTC))
    assert not store.revoke(issued.record.key_id, datetime.now(UTC))  # already revoked
    with pytest.raises(UnauthenticatedError, match="revoked"):
        authenticate(store, issued.plain_key)
    assert [r.active for r in store.list()] == [False]


@pytest.mark.parametrize("role", [Role.REP, Role.MANAGER])
def test_rep_and_manager_keys_need_a_rep(role: Role) -> None:
    with pytest.raises(ValueError, match="--rep"):
        issue_key(role)


def test_key_header_forms() -> None:
    assert api_key_from_headers({"authorization": "Bearer abc"}) == "abc"
    assert api_key_from_headers({"authorization": "bearer  abc "}) == "abc"
    assert api_key_from_headers({"x-api-key": "abc"}) == "abc"
    assert api_key_from_headers({"authorization": "Basic abc"}) is None


def test_reporting_lines_are_transitive_and_survive_cycles() -> None:
    reports = build_reports([("R1", "M1"), ("M2", "M1"), ("R2", "M2"), ("A", "B"), ("B", "A")])
    assert reports["M1"] == {"R1", "M2", "R2"}
    assert reports["A"] == {"B"} and reports["B"] == {"A"}


def test_scope_by_role() -> None:
    teams = InMemoryTeamDirectory({"R1": "M1", "M2": "M1", "R2": "M2", "R9": "M9"})
    rep = issue_key(Role.REP, "R1").record.principal()
    manager = issue_key(Role.MANAGER, "M1").record.principal()
    executive = issue_key(Role.EXECUTIVE).record.principal()
    assert visible_reps(rep, teams) == {"R1"}
    assert visible_reps(manager, teams) == {"M1", "R1", "M2", "R2"}
    assert visible_reps(executive, teams) is None
    authorize_reps(manager, ["R1", "R2", "M1"], teams)
    authorize_reps(executive, ["R9"], teams)
    with pytest.raises(ForbiddenError, match="R9"):
        authorize_reps(manager, ["R1", "R9"], teams)
    with pytest.raises(ForbiddenError, match="R2"):
        authorize_reps(rep, ["R1", "R2"], teams)


def test_parquet_roster_reloads_when_the_file_changes(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "reps.parquet"
    pq.write_table(pa.table({"rep_id": ["R1", "M1"], "manager_id": ["M1", None]}), path)
    directory = ParquetTeamDirectory(path)
    assert directory.team_of("M1") == {"R1"}
    pq.write_table(
        pa.table({"rep_id": ["R1", "R2", "M1"], "manager_id": ["M1", "M1", None], "x": [1, 2, 3]}),
        path,
    )
    assert directory.team_of("M1") == {"R1", "R2"}
    assert str(tmp_path) not in directory.describe()  # readiness never shows paths


def test_cached_record_is_used_only_while_the_database_is_unchanged(
    store: SqlKeyStore, tmp_path: Path
) -> None:
    issued = issue_key(Role.SERVICE, label="crm")
    store.add(issued.record)
    assert authenticate_cached(store, issued.plain_key) is None  # nothing cached yet
    assert authenticate(store, issued.plain_key).role is Role.SERVICE
    cached = authenticate_cached(store, issued.plain_key)  # now answered without a query
    assert cached is not None and cached.key_id == issued.record.key_id
    with pytest.raises(UnauthenticatedError, match="not valid"):  # the secret is still checked
        authenticate_cached(store, f"spm_{issued.record.key_id}_{'x' * 43}")
    # revoked by another process (another connection, e.g. `spm serve keys revoke`)
    other = SqlKeyStore(f"sqlite:///{tmp_path / 'keys.sqlite'}")
    assert other.revoke(issued.record.key_id, datetime.now(UTC))
    other.dispose()
    assert authenticate_cached(store, issued.plain_key) is None  # the cache is stale: dropped
    with pytest.raises(UnauthenticatedError, match="revoked"):
        authenticate(store, issued.plain_key)
    with pytest.raises(UnauthenticatedError, match="revoked"):  # revoked records cache too
        authenticate_cached(store, issued.plain_key)


def test_a_raw_sql_change_also_empties_the_cache(store: SqlKeyStore, tmp_path: Path) -> None:
    issued = issue_key(Role.ADMIN)
    store.add(issued.record)
    authenticate(store, issued.plain_key)
    assert authenticate_cached(store, issued.plain_key) is not None
    with sa.create_engine(f"sqlite:///{tmp_path / 'keys.sqlite'}").begin() as conn:
        conn.execute(sa.text(f"update {TABLE_NAME} set role = 'rep', rep_id = 'R1'"))
    assert authenticate_cached(store, issued.plain_key) is None
    assert authenticate(store, issued.plain_key).role is Role.REP


def test_other_databases_are_never_cached() -> None:
    store = SqlKeyStore("sqlite://")  # in memory: no file whose version could be checked
    issued = issue_key(Role.ADMIN)
    store.add(issued.record)
    authenticate(store, issued.plain_key)
    assert authenticate_cached(store, issued.plain_key) is None
