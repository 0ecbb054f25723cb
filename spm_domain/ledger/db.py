"""Opening a ledger database: URL resolution, engine set-up per backend, and
Alembic migrations to `head` run automatically (programmatic config, no
alembic.ini).

SQLite: write transactions start with BEGIN IMMEDIATE, so writers queue on the
database lock instead of failing half-way with "database is locked"; WAL
journaling lets readers run alongside, and a transaction killed mid-way (even
by SIGKILL) is never committed, so SQLite discards it.
PostgreSQL: READ COMMITTED plus row locks (SELECT ... FOR UPDATE) taken by the
ledger's operations; an optional schema isolates tenants or test runs.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url

log = logging.getLogger(__name__)

DEFAULT_LEDGER_URL = "sqlite:///./data/ledger.db"
LEDGER_URL_ENV = "SPM_LEDGER_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any fixed number: concurrent openers of one PostgreSQL ledger take turns migrating.
_MIGRATION_LOCK_KEY = 7_311_942_021
# Execution option marking a transaction that will write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "ledger_write"


def resolve_ledger_url(url: str | None = None) -> str:
    """The explicit URL, else $SPM_LEDGER_URL, else the SQLite default."""
    return url or os.environ.get(LEDGER_URL_ENV) or DEFAULT_LEDGER_URL


def alembic_config(connection: Connection) -> Config:
    """Alembic configuration for the ledger's migrations on an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": "ledger_alembic_version"}
        )
        return context.get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Apply pending migrations in one transaction (a no-op when already at head)."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        log.info("migrating ledger at %s to %s", engine.url.render_as_string(), head)
        command.upgrade(alembic_config(connection), "head")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own
        # implicit BEGIN is DEFERRED, which lets two writers deadlock on upgrade).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the write lock up front and queue (busy_timeout); readers
        # start a plain deferred transaction and, in WAL mode, never wait.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _ensure_schema(url: str, schema: str) -> None:
    bootstrap = create_engine(url, pool_pre_ping=True)
    try:
        with bootstrap.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        bootstrap.dispose()


def create_ledger_engine(url: str | None = None, *, schema: str | None = None) -> Engine:
    """An engine for the ledger at `url` (not yet migrated)."""
    resolved = resolve_ledger_url(url)
    parsed = make_url(resolved)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("a ledger schema applies to PostgreSQL only, not SQLite")
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(resolved, connect_args={"timeout": 60})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid ledger schema name {schema!r}: use [a-z0-9_]")
            _ensure_schema(resolved, schema)
            connect_args["options"] = f"-csearch_path={schema}"
        return create_engine(resolved, connect_args=connect_args, pool_pre_ping=True)
    raise ValueError(
        f"unsupported ledger URL {parsed.render_as_string()!r}: use sqlite:///PATH "
        "or postgresql+psycopg://USER@HOST/DB"
    )


def open_ledger_engine(url: str | None = None, *, schema: str | None = None) -> Engine:
    """An engine for the ledger at `url`, migrated to the latest schema."""
    engine = create_ledger_engine(url, schema=schema)
    upgrade_to_head(engine)
    return engine
