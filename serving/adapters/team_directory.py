"""The reporting lines managers are scoped by, read from the canonical `reps`
table (columns `rep_id`, `manager_id`): a Parquet store directory
(`<dir>/canonical/reps.parquet`) or a PostgreSQL schema, as written by
`spm data import`. Read lazily and re-read when the source changes."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)


class RosterUnavailableError(RuntimeError):
    """The reps table cannot be read (missing file, database down)."""


def build_reports(pairs: Iterable[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    """manager id → every rep below them (transitive; cycles cannot loop forever)."""
    direct: dict[str, set[str]] = defaultdict(set)
    for rep_id, manager_id in pairs:
        if manager_id and manager_id != rep_id:
            direct[manager_id].add(rep_id)
    closure: dict[str, frozenset[str]] = {}
    for manager in direct:
        seen: set[str] = set()
        stack = list(direct[manager])
        while stack:
            rep = stack.pop()
            if rep in seen or rep == manager:
                continue
            seen.add(rep)
            stack.extend(direct.get(rep, ()))
        closure[manager] = frozenset(seen)
    return closure


class InMemoryTeamDirectory:
    """A roster given as {rep_id: manager_id}: for tests and small deployments."""

    local_reads = True  # no network on the way (scoring may run on the event loop)

    def __init__(self, managers: Mapping[str, str | None]) -> None:
        self._reports = build_reports(managers.items())

    def team_of(self, manager_id: str) -> frozenset[str]:
        return self._reports.get(manager_id, frozenset())

    def describe(self) -> str:
        return "in-memory roster"


class ParquetTeamDirectory:
    """Reads `reps.parquet` (only `rep_id`, `manager_id`); reloads when the file changes."""

    local_reads = True  # no network on the way (scoring may run on the event loop)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._reports: dict[str, frozenset[str]] = {}

    def _load(self) -> dict[str, frozenset[str]]:
        import pyarrow.parquet as pq

        try:
            stat = self.path.stat()
        except FileNotFoundError:
            # The path goes to the log only: error messages may reach HTTP responses.
            log.error("reps table not found at %s", self.path)
            raise RosterUnavailableError(
                "the reps table was not found (import data with `spm data import`)"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                table = pq.read_table(self.path, columns=["rep_id", "manager_id"])
                reps = table.column("rep_id").to_pylist()
                managers = table.column("manager_id").to_pylist()
                self._reports = build_reports(zip(reps, managers, strict=True))
                self._stamp = stamp
                log.info("roster loaded from %s: %d managers", self.path, len(self._reports))
            return self._reports

    def team_of(self, manager_id: str) -> frozenset[str]:
        return self._load().get(manager_id, frozenset())

    def describe(self) -> str:
        return "canonical store (parquet)"


class SqlTeamDirectory:
    """Reads `<schema>.reps` from a database; cached for `ttl_seconds`."""

    def __init__(self, url: str, *, schema: str | None = None, ttl_seconds: float = 60.0) -> None:
        self.url = url
        self.schema = schema
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._reports: dict[str, frozenset[str]] = {}
        self._engine: object | None = None

    def _load(self) -> dict[str, frozenset[str]]:
        import time

        import sqlalchemy as sa

        with self._lock:
            now = time.monotonic()
            if self._loaded_at is not None and now - self._loaded_at < self.ttl_seconds:
                return self._reports
            if self._engine is None:
                self._engine = sa.create_engine(self.url, pool_pre_ping=True)
            engine = self._engine
            assert isinstance(engine, sa.Engine)
            reps = sa.table(
                "reps", sa.column("rep_id"), sa.column("manager_id"), schema=self.schema
            )
            try:
                with engine.connect() as conn:
                    rows = conn.execute(sa.select(reps.c.rep_id, reps.c.manager_id)).all()
            except sa.exc.SQLAlchemyError as exc:
                raise RosterUnavailableError(
                    f"reps table cannot be read: {type(exc).__name__}"
                ) from exc
            self._reports = build_reports((r[0], r[1]) for r in rows)
            self._loaded_at = now
            return self._reports

    def team_of(self, manager_id: str) -> frozenset[str]:
        return self._load().get(manager_id, frozenset())

    def describe(self) -> str:
        import sqlalchemy as sa

        return f"canonical store ({sa.make_url(self.url).get_backend_name()})"
