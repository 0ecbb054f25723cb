"""Where the canonical tables live: Parquet files (embedded default) or PostgreSQL.

    store = open_store("./data")                                   # Parquet
    store = open_store("postgresql+psycopg://u@host/db?schema=spm")  # PostgreSQL
    reps = store.read_table("reps")

Both backends return the same frames (dtypes in `features.ingest.dtypes`):
decimals come back as exact `Decimal`s, timestamps as UTC-aware.

Writes are atomic. Parquet: every write builds a complete new version
directory `<dir>/.canonical_versions/<id>/` (unchanged tables are hard-linked)
and then swaps the `<dir>/canonical` symlink to it with one `os.replace`, so a
reader or a crash sees either the old or the new set of tables, never a mix.
PostgreSQL: all tables are replaced in one transaction.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from features.ingest.dtypes import (
    SOURCE_FILE_COL,
    SOURCE_ROW_COL,
    canonical_table,
    column_type_of_arrow,
    conform_frame,
    decimal_scale,
    empty_frame,
    infer_column_type,
    python_values,
)
from features.ingest.schema import CANONICAL_TABLES, ColumnType

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("./data")
WriteMode = Literal["replace", "append"]
REPORT_JSON = "quality_report.json"
REPORT_MARKDOWN = "quality_report.md"
REPORTS_TABLE = "spm_import_reports"


class StoreError(RuntimeError):
    """The store cannot be opened, read or written."""


class CanonicalStore(Protocol):
    """What every consumer of the canonical data relies on."""

    location: str

    def read_table(self, name: str) -> pd.DataFrame:
        """The table in canonical dtypes (an empty frame if never written)."""
        ...

    def write_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        mode: WriteMode = "replace",
        *,
        quality_report: Mapping[str, Any] | None = None,
        quality_markdown: str | None = None,
    ) -> None:
        """Replace (or append to) the given tables in one atomic step; other
        tables are left as they are."""
        ...

    def table_names(self) -> list[str]:
        """Canonical tables present in the store."""
        ...

    def summary(self) -> dict[str, Any]:
        """Rows per table and the date range of each date/timestamp column."""
        ...

    def read_quality_report(self) -> tuple[dict[str, Any] | None, str | None]:
        """The data-quality report (JSON document, markdown) of the last import."""
        ...


def open_store(target: str | Path | None = None, *, schema: str | None = None) -> CanonicalStore:
    """Open the store at a directory (Parquet) or a `postgresql+psycopg://` URL."""
    if target is None:
        return ParquetStore(DEFAULT_DATA_DIR)
    text = str(target)
    if text.startswith("postgresql"):
        return PostgresStore(text, schema=schema)
    if "://" in text:
        raise StoreError(
            f"unsupported store URL {text!r}: use a directory or postgresql+psycopg://"
        )
    return ParquetStore(Path(text))


def _prepare(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    hidden = [c for c in (SOURCE_FILE_COL, SOURCE_ROW_COL) if c in frame.columns]
    return conform_frame(frame.drop(columns=hidden), name)


def _merge_for_write(
    store: CanonicalStore, tables: Mapping[str, pd.DataFrame], mode: WriteMode
) -> dict[str, pd.DataFrame]:
    if mode not in ("replace", "append"):
        raise StoreError(f"unknown write mode {mode!r}: use 'replace' or 'append'")
    prepared = {name: _prepare(name, frame) for name, frame in tables.items()}
    if mode == "append":
        for name, frame in prepared.items():
            existing = store.read_table(name)
            if len(existing):
                prepared[name] = conform_frame(
                    pd.concat([existing, frame], ignore_index=True), name
                )
    return prepared


def _summarise(store: CanonicalStore) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name in store.table_names():
        frame = store.read_table(name)
        table = canonical_table(name)
        ranges: dict[str, dict[str, str | None]] = {}
        for col in table.columns:
            if col.type in (ColumnType.DATE, ColumnType.TIMESTAMP) and col.name in frame:
                values = frame[col.name].dropna()
                ranges[col.name] = {
                    "min": values.min().isoformat() if len(values) else None,
                    "max": values.max().isoformat() if len(values) else None,
                }
        sources = frame["source"].value_counts().sort_index() if "source" in frame else None
        tables[name] = {
            "rows": len(frame),
            "date_ranges": ranges,
            "rows_by_source": {str(k): int(v) for k, v in sources.items()}
            if sources is not None
            else {},
            "attr_columns": [c for c in frame.columns if c.startswith("attr_")],
        }
    return {"location": store.location, "tables": tables}


# ---------------------------------------------------------------- Parquet


class ParquetStore:
    """Parquet files `<dir>/canonical/<table>.parquet` behind an atomic symlink swap."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.location = str(self.directory)

    @property
    def canonical_dir(self) -> Path:
        return self.directory / "canonical"

    @property
    def _versions_dir(self) -> Path:
        return self.directory / ".canonical_versions"

    def table_names(self) -> list[str]:
        if not self.canonical_dir.is_dir():
            return []
        return [n for n in CANONICAL_TABLES if (self.canonical_dir / f"{n}.parquet").is_file()]

    def read_table(self, name: str) -> pd.DataFrame:
        import pyarrow.parquet as pq

        table = canonical_table(name)
        path = self.canonical_dir / f"{name}.parquet"
        if not path.is_file():
            return empty_frame(table)
        arrow = pq.read_table(path)
        attr_types = {
            f.name: column_type_of_arrow(f.type) for f in arrow.schema if f.name.startswith("attr_")
        }
        frame = arrow.to_pandas()
        return conform_frame(frame, table, attr_types=attr_types)

    def read_quality_report(self) -> tuple[dict[str, Any] | None, str | None]:
        json_path = self.canonical_dir / REPORT_JSON
        md_path = self.canonical_dir / REPORT_MARKDOWN
        report = json.loads(json_path.read_text("utf-8")) if json_path.is_file() else None
        markdown = md_path.read_text("utf-8") if md_path.is_file() else None
        return report, markdown

    def summary(self) -> dict[str, Any]:
        return _summarise(self)

    def write_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        mode: WriteMode = "replace",
        *,
        quality_report: Mapping[str, Any] | None = None,
        quality_markdown: str | None = None,
    ) -> None:
        prepared = _merge_for_write(self, tables, mode)
        self._versions_dir.mkdir(parents=True, exist_ok=True)
        version = self._versions_dir / f"v-{uuid.uuid4().hex}"
        staging = self._versions_dir / f".staging-{version.name}"
        staging.mkdir()
        try:
            self._carry_over_unchanged(staging, skip=set(prepared))
            for name, frame in prepared.items():
                _write_parquet(frame, name, staging / f"{name}.parquet")
            # Carried-over files are hard links into the live version: unlink, never
            # overwrite in place, or the live report would change before the swap.
            if quality_report is not None:
                (staging / REPORT_JSON).unlink(missing_ok=True)
                (staging / REPORT_JSON).write_text(
                    json.dumps(quality_report, indent=2, sort_keys=True, default=str), "utf-8"
                )
            if quality_markdown is not None:
                (staging / REPORT_MARKDOWN).unlink(missing_ok=True)
                (staging / REPORT_MARKDOWN).write_text(quality_markdown, "utf-8")
            staging.rename(version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        previous = self._swap_to(version)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        log.info("wrote %s to %s", ", ".join(sorted(prepared)), self.canonical_dir)

    def _carry_over_unchanged(self, staging: Path, skip: set[str]) -> None:
        if not self.canonical_dir.is_dir():
            return
        for path in self.canonical_dir.iterdir():
            if path.suffix == ".parquet" and path.stem in skip:
                continue
            if path.is_file():
                try:
                    os.link(path, staging / path.name)
                except OSError:
                    shutil.copy2(path, staging / path.name)

    def _swap_to(self, version: Path) -> Path | None:
        """Point `canonical` at the new version atomically; return the old target."""
        link = self.canonical_dir
        previous: Path | None = None
        if link.is_symlink():
            previous = link.resolve()
        elif link.exists():
            # A plain directory (e.g. written by hand): move it aside first.
            previous = self._versions_dir / f"v-legacy-{uuid.uuid4().hex}"
            link.rename(previous)
        tmp_link = self.directory / f".canonical-link-{uuid.uuid4().hex}"
        tmp_link.symlink_to(version.relative_to(self.directory), target_is_directory=True)
        os.replace(tmp_link, link)
        return previous


def _arrow_field(name: str, frame: pd.DataFrame, table_name: str) -> Any:
    import pyarrow as pa

    table = canonical_table(table_name)
    ctype = (
        table.column(name).type if name in table.column_names else infer_column_type(frame[name])
    )
    match ctype:
        case ColumnType.STRING:
            return pa.field(name, pa.string())
        case ColumnType.INTEGER:
            return pa.field(name, pa.int64())
        case ColumnType.FLOAT:
            return pa.field(name, pa.float64())
        case ColumnType.DECIMAL:
            return pa.field(name, pa.decimal128(38, decimal_scale(frame[name])))
        case ColumnType.BOOLEAN:
            return pa.field(name, pa.bool_())
        case ColumnType.DATE:
            return pa.field(name, pa.date32())
        case ColumnType.TIMESTAMP:
            return pa.field(name, pa.timestamp("us", tz="UTC"))
    raise AssertionError(ctype)


def _write_parquet(frame: pd.DataFrame, table_name: str, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([_arrow_field(c, frame, table_name) for c in frame.columns])
    arrays = []
    for field in schema:
        column = frame[field.name]
        if pa.types.is_decimal(field.type):
            arrays.append(pa.array(list(column), type=field.type))
        elif pa.types.is_date32(field.type):
            arrays.append(pa.array(column.dt.date.where(column.notna(), None), type=field.type))
        else:
            arrays.append(pa.array(column, type=field.type, from_pandas=True))
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


# ------------------------------------------------------------- PostgreSQL


def _split_schema(url: str, schema: str | None) -> tuple[str, str]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    url_schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    chosen = schema or url_schema or "public"
    if not chosen.replace("_", "").isalnum():
        raise StoreError(f"invalid schema name {chosen!r}")
    return clean, chosen


def _sql_type(ctype: ColumnType) -> Any:
    import sqlalchemy as sa

    return {
        ColumnType.STRING: sa.Text(),
        ColumnType.INTEGER: sa.BigInteger(),
        ColumnType.FLOAT: sa.Float(precision=53),
        ColumnType.DECIMAL: sa.Numeric(),
        ColumnType.BOOLEAN: sa.Boolean(),
        ColumnType.DATE: sa.Date(),
        ColumnType.TIMESTAMP: sa.TIMESTAMP(timezone=True),
    }[ctype]


def _column_type_of_sql(sql_type: Any) -> ColumnType:
    import sqlalchemy as sa

    checks: list[tuple[type[Any], ColumnType]] = [
        (sa.Boolean, ColumnType.BOOLEAN),
        (sa.Integer, ColumnType.INTEGER),
        (sa.Float, ColumnType.FLOAT),
        (sa.Numeric, ColumnType.DECIMAL),
        (sa.DateTime, ColumnType.TIMESTAMP),
        (sa.Date, ColumnType.DATE),
    ]
    for kind, column_type in checks:  # Float before Numeric: Float subclasses Numeric
        if isinstance(sql_type, kind):
            return column_type
    return ColumnType.STRING


class PostgresStore:
    """Canonical tables as PostgreSQL tables (NUMERIC money, TIMESTAMPTZ) in one schema."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        import sqlalchemy as sa

        self.url, self.schema = _split_schema(url, schema)
        self.location = (
            f"{sa.make_url(self.url).render_as_string(hide_password=True)} schema={self.schema}"
        )
        self._engine = sa.create_engine(self.url, future=True, pool_pre_ping=True)

    def dispose(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import sqlalchemy as sa

        try:
            connection = self._engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach PostgreSQL at {self.location}: {exc}") from exc
        with connection as conn:
            yield conn

    def _existing(self, conn: Any) -> set[str]:
        import sqlalchemy as sa

        return set(sa.inspect(conn).get_table_names(schema=self.schema))

    def table_names(self) -> list[str]:
        import sqlalchemy as sa

        try:
            with self._engine.connect() as conn:
                present = self._existing(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot reach PostgreSQL at {self.location}: {exc}") from exc
        return [n for n in CANONICAL_TABLES if n in present]

    def read_table(self, name: str) -> pd.DataFrame:

        table = canonical_table(name)
        with self._connect() as conn:
            return self._read(conn, name) if name in self._existing(conn) else empty_frame(table)

    def _read(self, conn: Any, name: str) -> pd.DataFrame:
        import sqlalchemy as sa

        reflected = sa.Table(name, sa.MetaData(), schema=self.schema, autoload_with=conn)
        result = conn.execute(sa.select(reflected))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
        attr_types = {
            c.name: _column_type_of_sql(c.type)
            for c in reflected.columns
            if c.name.startswith("attr_")
        }
        return conform_frame(frame, name, attr_types=attr_types)

    def read_quality_report(self) -> tuple[dict[str, Any] | None, str | None]:
        import sqlalchemy as sa

        with self._connect() as conn:
            if REPORTS_TABLE not in self._existing(conn):
                return None, None
            row = conn.execute(
                sa.text(
                    f'SELECT report, markdown FROM "{self.schema}"."{REPORTS_TABLE}" '
                    "ORDER BY written_at DESC, id DESC LIMIT 1"
                )
            ).first()
        if row is None:
            return None, None
        return json.loads(row[0]), row[1]

    def summary(self) -> dict[str, Any]:
        return _summarise(self)

    def write_tables(
        self,
        tables: Mapping[str, pd.DataFrame],
        mode: WriteMode = "replace",
        *,
        quality_report: Mapping[str, Any] | None = None,
        quality_markdown: str | None = None,
    ) -> None:
        import psycopg
        import sqlalchemy as sa

        prepared = _merge_for_write(self, tables, mode)
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
                for name, frame in prepared.items():
                    self._replace_table(conn, name, frame)
                if quality_report is not None:
                    self._append_report(conn, quality_report, quality_markdown)
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot write to PostgreSQL at {self.location}: {exc}") from exc
        except psycopg.Error as exc:  # raised by COPY on the driver connection
            raise StoreError(
                f"writing to PostgreSQL at {self.location} failed; nothing was changed: {exc}"
            ) from exc
        log.info("wrote %s to %s", ", ".join(sorted(prepared)), self.location)

    def _replace_table(self, conn: Any, name: str, frame: pd.DataFrame) -> None:
        import sqlalchemy as sa
        from psycopg import sql

        table = canonical_table(name)
        types = {
            c: table.column(c).type if c in table.column_names else infer_column_type(frame[c])
            for c in frame.columns
        }
        metadata = sa.MetaData(schema=self.schema)
        sa_table = sa.Table(
            name,
            metadata,
            *(sa.Column(c, _sql_type(t)) for c, t in types.items()),
            sa.PrimaryKeyConstraint(*table.primary_key, name=f"{name}_pkey"),
        )
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{self.schema}"."{name}"'))
        sa_table.create(conn)
        raw = conn.connection.driver_connection
        copy_sql = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
            sql.Identifier(self.schema),
            sql.Identifier(name),
            sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns),
        )
        columns = [python_values(frame[c], t) for c, t in types.items()]
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    def _append_report(self, conn: Any, report: Mapping[str, Any], markdown: str | None) -> None:
        import sqlalchemy as sa

        conn.execute(
            sa.text(
                f'CREATE TABLE IF NOT EXISTS "{self.schema}"."{REPORTS_TABLE}" ('
                "id BIGSERIAL PRIMARY KEY, written_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                "report TEXT NOT NULL, markdown TEXT)"
            )
        )
        conn.execute(
            sa.text(
                f'INSERT INTO "{self.schema}"."{REPORTS_TABLE}" (report, markdown) '
                "VALUES (:report, :markdown)"
            ),
            {"report": json.dumps(report, sort_keys=True, default=str), "markdown": markdown},
        )
