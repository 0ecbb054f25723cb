"""Hashed API keys in any SQLAlchemy database (SQLite file by default).

On SQLite, records read are kept in a cache that is valid only while the
database's `PRAGMA data_version` (read on a connection of its own) is the
one seen *before* the record was read: any commit by another connection or
process (`spm serve keys revoke`, another worker) changes it and empties the
cache, so a revoked key stops working on the next request. A hit costs one
PRAGMA (microseconds) instead of a SQLAlchemy query (~0.1 ms), cheap enough
to authenticate on the event loop (`serving.middleware`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from serving.security import KeyRecord, Role

log = logging.getLogger(__name__)

TABLE_NAME = "spm_api_keys"
_MAX_CACHED = 10_000  # key records cached (existing keys only: unknown ids are never cached)


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        TABLE_NAME,
        metadata,
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("rep_id", sa.String(200), nullable=True),
        sa.Column("label", sa.String(200), nullable=False, default=""),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def _aware(value: datetime | None) -> datetime | None:
    # SQLite drops the zone; every stored time is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _sqlite_file(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL (None: no version-checked cache)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class SqlKeyStore:
    """KeyStore on SQLAlchemy Core; creates its one table on first use."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self._schema = schema
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()
        metadata = sa.MetaData(schema=schema)
        self._keys = _table(metadata)
        self._metadata = metadata
        self._sqlite_path = _sqlite_file(url)
        self._cache_lock = threading.Lock()
        self._version_connection: sqlite3.Connection | None = None
        self._version: int | None = None  # data_version the cached records were read at
        self._records: dict[str, KeyRecord] = {}

    @property
    def engine(self) -> sa.Engine:
        with self._lock:  # requests authenticate from several threads at once
            return self._engine_locked()

    def _engine_locked(self) -> sa.Engine:
        if self._engine is None:
            if self.url.startswith("sqlite:///"):
                path = Path(self.url.removeprefix("sqlite:///"))
                if str(path) not in ("", ":memory:"):
                    path.parent.mkdir(parents=True, exist_ok=True)
            self._engine = sa.create_engine(self.url, pool_pre_ping=True)
            self._metadata.create_all(self._engine)
        return self._engine

    def describe(self) -> str:
        """The backend kind only (no host names or file paths in responses)."""
        return sa.make_url(self.url).get_backend_name()

    def add(self, record: KeyRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self._keys.insert().values(
                    key_id=record.key_id,
                    role=record.role.value,
                    rep_id=record.rep_id,
                    label=record.label,
                    salt=record.salt,
                    key_hash=record.key_hash,
                    created_at=record.created_at,
                    revoked_at=record.revoked_at,
                )
            )
        with self._cache_lock:
            self._forget()
        log.info("API key %s created (role %s)", record.key_id, record.role.value)

    def _record(self, row: Any) -> KeyRecord:
        created = _aware(row.created_at)
        assert created is not None
        return KeyRecord(
            key_id=row.key_id,
            role=Role(row.role),
            rep_id=row.rep_id,
            label=row.label or "",
            salt=row.salt,
            key_hash=row.key_hash,
            created_at=created,
            revoked_at=_aware(row.revoked_at),
        )

    def _data_version(self) -> int:
        """SQLite's data_version on this store's own connection (cache lock held)."""
        if self._version_connection is None:
            self.engine  # creates the file and table first  # noqa: B018
            self._version_connection = sqlite3.connect(
                f"file:{self._sqlite_path}?mode=ro",
                uri=True,
                isolation_level=None,  # autocommit: every PRAGMA sees the latest commit
                check_same_thread=False,
            )
        return int(self._version_connection.execute("PRAGMA data_version").fetchone()[0])

    def cached(self, key_id: str) -> KeyRecord:
        """The record of `key_id` if it is cached and still current; LookupError
        otherwise (then `get` reads it). Never stale: see the module doc."""
        if self._sqlite_path is None:
            raise LookupError(key_id)
        with self._cache_lock:
            try:
                version = self._data_version()
            except sqlite3.Error:
                self._forget()
                raise LookupError(key_id) from None
            if version != self._version:
                self._records.clear()
                self._version = version
            return self._records[key_id]  # KeyError is a LookupError

    def _forget(self) -> None:
        self._records.clear()
        self._version = None

    def get(self, key_id: str) -> KeyRecord | None:
        version = None
        if self._sqlite_path is not None:
            with self._cache_lock:
                try:
                    version = self._data_version()  # before the read: see the module doc
                except sqlite3.Error:
                    self._forget()
        with self.engine.connect() as conn:
            row = conn.execute(self._keys.select().where(self._keys.c.key_id == key_id)).first()
        record = self._record(row) if row is not None else None
        if record is not None and version is not None:
            with self._cache_lock:
                if version != self._version:
                    self._records.clear()
                    self._version = version
                if len(self._records) < _MAX_CACHED:
                    self._records[key_id] = record
        return record

    def list(self) -> list[KeyRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._keys.select().order_by(self._keys.c.created_at)).all()
        return [self._record(r) for r in rows]

    def revoke(self, key_id: str, when: datetime) -> bool:
        """Mark a key revoked; False when no active key has that id."""
        with self.engine.begin() as conn:
            result = conn.execute(
                self._keys.update()
                .where(self._keys.c.key_id == key_id, self._keys.c.revoked_at.is_(None))
                .values(revoked_at=when)
            )
        with self._cache_lock:
            self._forget()
        revoked = bool(result.rowcount)
        if revoked:
            log.info("API key %s revoked", key_id)
        return revoked

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(self._keys))

    def dispose(self) -> None:
        with self._cache_lock:
            self._forget()
            if self._version_connection is not None:
                self._version_connection.close()
                self._version_connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
