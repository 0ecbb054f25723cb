"""Hashed API keys in any SQLAlchemy database (SQLite file by default)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from serving.security import KeyRecord, Role

log = logging.getLogger(__name__)

TABLE_NAME = "spm_api_keys"


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

    def get(self, key_id: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._keys.select().where(self._keys.c.key_id == key_id)).first()
        return self._record(row) if row is not None else None

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
        revoked = bool(result.rowcount)
        if revoked:
            log.info("API key %s revoked", key_id)
        return revoked

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.select(sa.func.count()).select_from(self._keys))

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
