"""The feature store's Python API, for the CLI, training and serving.

* `build_feature_tables(store, data_dir)` - canonical tables -> Parquet feature tables.
* `apply(data_dir)` - register the definitions of `features/feature_repo/`.
* `materialize(data_dir, end_date, start_date=None)` - load the latest values into the
  online store (each view from `end_date - ttl`, or from `start_date`).
* `training_frame(service, entity_df)` - point-in-time training rows, only through a
  feature service.
* `online_features(service, entity_rows)` - the same features for serving.

Configuration: the data directory (default `$SPM_DATA_DIR` or `./data`) is the
Feast repo path. `apply` writes the effective yaml there
(`feature_store.yaml`, or `feature_store.production.yaml` for the production
configuration), so relative paths (registry, SQLite file, feature tables)
resolve inside the data directory from any working directory, and Feast's own
CLI works on it: `feast -c DIR -f DIR/feature_store.yaml feature-views list`.
Secrets stay `${VAR}` references in the written yaml; Feast expands them when
the store is opened.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pandas as pd

from features.feature_tables import (
    FEATURE_TABLE_DTYPES,
    FEATURE_TABLES,
    FeatureTableSummary,
    compute_feature_tables,
)

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore

log = logging.getLogger(__name__)

FEATURE_REPO_DIR = Path(__file__).resolve().parent / "feature_repo"
ConfigName = Literal["default", "production"]
CONFIG_TEMPLATES: dict[str, str] = {
    "default": "feature_store.yaml",
    "production": "feature_store.prod.yaml",
}
EFFECTIVE_CONFIG_FILES: dict[str, str] = {
    "default": "feature_store.yaml",
    "production": "feature_store.production.yaml",
}
FEATURE_SERVICES: tuple[str, ...] = ("lead_scoring_v1", "deal_risk_v1", "attainment_v1")
CANONICAL_TABLE_NAMES: tuple[str, ...] = (
    "org_units",
    "reps",
    "accounts",
    "products",
    "leads",
    "opportunities",
    "stage_history",
    "transactions",
    "quotas",
)
REQUEST_TIME = "request_time"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class FeatureStoreError(RuntimeError):
    """The feature store cannot do what was asked (configuration, missing apply, bad input)."""


class CanonicalStore(Protocol):
    """What the builder needs from `features.ingest.storage.CanonicalStore`."""

    def table_names(self) -> list[str]: ...

    def read_table(self, name: str) -> pd.DataFrame: ...


# --------------------------------------------------------------------------- config


def default_data_dir() -> Path:
    return Path(os.environ.get("SPM_DATA_DIR", "data"))


def _config_name(config: str) -> str:
    if config not in CONFIG_TEMPLATES:
        raise FeatureStoreError(
            f"unknown feature-store config {config!r}; use one of {', '.join(CONFIG_TEMPLATES)}"
        )
    return config


def missing_environment(config: str) -> list[str]:
    """`${VAR}` references of a configuration that are not set in the environment."""
    template = (FEATURE_REPO_DIR / CONFIG_TEMPLATES[_config_name(config)]).read_text()
    settings = "\n".join(line.split("#", 1)[0] for line in template.splitlines())
    names = dict.fromkeys(re.findall(r"\$\{(\w+)\}", settings))
    return [name for name in names if name not in os.environ]


def write_effective_config(data_dir: Path | str, config: str = "default") -> Path:
    """Copy the configuration template into the data directory (atomically)."""
    missing = missing_environment(config)
    if missing:
        raise FeatureStoreError(
            f"feature-store config {config!r} needs environment variable(s) "
            f"{', '.join(missing)} (see docs/feature-store.md)"
        )
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "feast").mkdir(exist_ok=True)
    target = root / EFFECTIVE_CONFIG_FILES[config]
    text = (FEATURE_REPO_DIR / CONFIG_TEMPLATES[config]).read_text()
    if not target.is_file() or target.read_text() != text:
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        tmp.write_text(text)
        tmp.replace(target)
    return target


@contextlib.contextmanager
def _quiet_feast() -> Iterator[None]:
    """Feast prints progress to stdout; keep stdout for our own (JSON) output."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            log.debug("feast: %s", text)


def open_feature_store(
    data_dir: Path | str | None = None, config: str = "default", *, create: bool = False
) -> FeatureStore:
    """A Feast store whose repo path is the data directory (`create`: make it if absent)."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if not create and not root.is_dir():
        raise FeatureStoreError(f"data directory {root} does not exist; run apply first")
    from feast import FeatureStore

    yaml_path = write_effective_config(root, config)
    with _quiet_feast():
        return FeatureStore(repo_path=str(root.resolve()), fs_yaml_file=yaml_path.resolve())


# --------------------------------------------------------------------------- tables


def read_canonical_tables(
    store: CanonicalStore | None, data_dir: Path | str
) -> dict[str, pd.DataFrame]:
    """Canonical frames from the ingestion store (default: the data dir's Parquet store)."""
    if store is None:
        from features.ingest.storage import open_store

        store = open_store(Path(data_dir))
    present = set(store.table_names())
    tables = {name: store.read_table(name) for name in CANONICAL_TABLE_NAMES if name in present}
    if not tables:
        raise FeatureStoreError(
            f"no canonical tables in {getattr(store, 'location', data_dir)}; run the import first"
        )
    return tables


def build_feature_tables(
    store: CanonicalStore | None,
    data_dir: Path | str,
    *,
    created: dt.datetime | None = None,
    territory_assignments: pd.DataFrame | None = None,
) -> list[FeatureTableSummary]:
    """Compute every feature table and write `<data_dir>/features/<table>.parquet`.

    All tables are computed before anything is written, and each file is
    replaced atomically, so a failure leaves the previous tables intact.
    `territory_assignments` (source, region, rep_id): territory crediting for
    those sources (`features.territories`).
    """
    root = Path(data_dir)
    canonical = read_canonical_tables(store, root)
    stamp = created or dt.datetime.now(dt.UTC)
    tables = compute_feature_tables(canonical, stamp, territory_assignments)
    target_dir = root / "features"
    target_dir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in FEATURE_TABLES:
        path = target_dir / f"{name}.parquet"
        tmp = target_dir / f".{name}.{uuid.uuid4().hex}.parquet"
        tables[name].to_parquet(tmp, index=False)
        tmp.replace(path)
        summaries.append(FeatureTableSummary(name, len(tables[name]), str(path)))
        log.info("feature table %s: %d rows -> %s", name, len(tables[name]), path)
    info = {
        "created": pd.Timestamp(stamp).isoformat(),
        "territory_credited_sources": sorted(
            set(territory_assignments["source"]) if territory_assignments is not None else ()
        ),
    }
    tmp = target_dir / f".build.{uuid.uuid4().hex}.json"
    tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    tmp.replace(target_dir / "build.json")
    return summaries


# --------------------------------------------------------------------------- definitions


def _repo_modules() -> dict[str, Any]:
    from features.feature_repo import (
        data_sources,
        entities,
        feature_services,
        feature_views,
        on_demand_features,
    )

    return {
        "entities": entities,
        "data_sources": data_sources,
        "feature_views": feature_views,
        "on_demand_features": on_demand_features,
        "feature_services": feature_services,
    }


def _collect(module: Any, kind: type) -> list[Any]:
    return [obj for name, obj in vars(module).items() if isinstance(obj, kind) and name[0] != "_"]


def definitions(config: str = "default") -> list[Any]:
    """Every Feast object of the repo, in definition order; the production
    configuration reads the same feature tables from PostgreSQL."""
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView, RequestSource

    modules = _repo_modules()
    entities = _collect(modules["entities"], Entity)
    views = _collect(modules["feature_views"], FeatureView)
    request_sources = _collect(modules["data_sources"], RequestSource)
    if _config_name(config) == "production":
        views = [_with_postgres_source(view) for view in views]
    odfvs = _collect(modules["on_demand_features"], OnDemandFeatureView)
    services = _collect(modules["feature_services"], FeatureService)
    sources = [view.batch_source for view in views]
    return [*entities, *sources, *request_sources, *views, *odfvs, *services]


def _with_postgres_source(view: Any) -> Any:
    from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
        PostgreSQLSource,
    )

    table = view.name
    pg_view = copy.copy(view)
    pg_view.batch_source = PostgreSQLSource(
        name=f"{table}_source",
        table=table,
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        description=f"Feature table `{table}` in the offline store schema.",
    )
    return pg_view


# --------------------------------------------------------------------------- apply


@dataclass(frozen=True)
class ApplySummary:
    config: str
    project: str
    data_dir: str
    entities: list[str]
    feature_views: list[str]
    on_demand_feature_views: list[str]
    feature_services: list[str]
    offline_tables_loaded: dict[str, int]


def apply(
    data_dir: Path | str | None = None,
    config: str = "default",
    *,
    store: FeatureStore | None = None,
) -> ApplySummary:
    """Register the repo's definitions (production: load the feature tables into
    the PostgreSQL offline store first, since its sources read from there)."""
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    missing = [t for t in FEATURE_TABLES if not (root / "features" / f"{t}.parquet").is_file()]
    if missing:
        raise FeatureStoreError(
            f"feature table(s) {', '.join(missing)} not found under {root / 'features'}; "
            "build them first (spm features build)"
        )
    fs = store or open_feature_store(root, config, create=True)
    loaded: dict[str, int] = {}
    if config == "production":
        loaded = load_offline_tables(fs, root)
    objects = definitions(config)
    with _quiet_feast():
        fs.apply(objects)
    return ApplySummary(
        config=config,
        project=fs.project,
        data_dir=str(root),
        entities=[o.name for o in objects if isinstance(o, Entity)],
        feature_views=[o.name for o in objects if type(o) is FeatureView],
        on_demand_feature_views=[o.name for o in objects if isinstance(o, OnDemandFeatureView)],
        feature_services=[o.name for o in objects if isinstance(o, FeatureService)],
        offline_tables_loaded=loaded,
    )


_PG_TYPES = {
    "string": "TEXT",
    "int64": "BIGINT",
    "Int64": "BIGINT",
    "float64": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "datetime64[ns, UTC]": "TIMESTAMPTZ",
}


def load_offline_tables(store: FeatureStore, data_dir: Path | str) -> dict[str, int]:
    """Copy the Parquet feature tables into the PostgreSQL offline store's schema.
    Each table is swapped in within one transaction: readers see old or new."""
    import psycopg
    from psycopg import sql

    cfg = store.config.offline_store
    if getattr(cfg, "type", None) != "postgres":
        raise FeatureStoreError("load_offline_tables needs a postgres offline store")
    schema = cfg.db_schema
    counts: dict[str, int] = {}
    with psycopg.connect(
        host=cfg.host,
        port=cfg.port,
        dbname=cfg.database,
        user=cfg.user,
        password=cfg.password or None,
        sslmode=cfg.sslmode or "prefer",
    ) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for table in FEATURE_TABLES:
            frame = pd.read_parquet(Path(data_dir) / "features" / f"{table}.parquet")
            dtypes = FEATURE_TABLE_DTYPES[table]
            staging = f"{table}__loading"
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_PG_TYPES[t]))
                for c, t in dtypes.items()
            )
            with conn.transaction():
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(staging)
                    )
                )
                conn.execute(
                    sql.SQL("CREATE TABLE {}.{} ({})").format(
                        sql.Identifier(schema), sql.Identifier(staging), columns
                    )
                )
                copy_stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                    sql.Identifier(schema),
                    sql.Identifier(staging),
                    sql.SQL(", ").join(sql.Identifier(c) for c in dtypes),
                )
                with conn.cursor() as cur, cur.copy(copy_stmt) as pg_copy:
                    for row in frame[list(dtypes)].itertuples(index=False, name=None):
                        pg_copy.write_row([_pg_value(v) for v in row])
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                )
                conn.execute(
                    sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                        sql.Identifier(schema), sql.Identifier(staging), sql.Identifier(table)
                    )
                )
            counts[table] = len(frame)
            log.info("offline table %s.%s: %d rows", schema, table, len(frame))
    return counts


def _pg_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


# --------------------------------------------------------------------------- materialize


@dataclass(frozen=True)
class MaterializeSummary:
    end_date: str
    feature_views: dict[str, str]  # view -> start of the loaded interval


def materialize(
    data_dir: Path | str | None = None,
    end_date: dt.datetime | None = None,
    config: str = "default",
    *,
    start_date: dt.datetime | None = None,
    views: Sequence[str] | None = None,
    store: FeatureStore | None = None,
) -> MaterializeSummary:
    """Load each view's latest value per entity up to `end_date` into the online store.

    Without `start_date` each view starts at `end_date - ttl` (a static view,
    ttl 0, from 1970), so the online store holds exactly what a point-in-time
    lookup at `end_date` would return: an entity whose latest row is older
    than the TTL is left out. With `start_date` every view starts there;
    `start_date=EPOCH` (CLI `--all-history`) puts each entity's latest row up to
    `end_date` in the store whatever its age, which is what a backfill of data
    from several eras needs (the shared datasets: 2000 placeholders, 2016-17
    Maven, 2017-20 AdventureWorks). Neither Feast's online read nor serving's
    direct read applies the TTL at read time (docs/feature-store.md).
    `views` restricts the load to those feature views (default: all).
    """
    fs = store or open_feature_store(data_dir, config)
    end = _utc_datetime(end_date or dt.datetime.now(dt.UTC))
    registered = fs.list_feature_views()
    if not registered:
        raise FeatureStoreError("no feature views registered; run apply first")
    if views:
        known = {v.name: v for v in registered}
        unknown = [name for name in views if name not in known]
        if unknown:
            raise FeatureStoreError(
                f"unknown feature view(s) {', '.join(unknown)}; registered: {', '.join(known)}"
            )
        registered = [known[name] for name in dict.fromkeys(views)]
    start_all = _utc_datetime(start_date) if start_date is not None else None
    if start_all is not None and start_all >= end:
        raise FeatureStoreError(
            f"start date {start_all.isoformat()} is not before end date {end.isoformat()}"
        )
    started: dict[str, str] = {}
    for view in registered:
        if start_all is not None:
            start = start_all
        elif view.ttl and view.ttl.total_seconds() > 0:
            start = end - view.ttl
        else:
            start = EPOCH
        with _quiet_feast():
            fs.materialize(start_date=start, end_date=end, feature_views=[view.name])
        started[view.name] = start.isoformat()
        log.info("materialized %s from %s to %s", view.name, start, end)
    return MaterializeSummary(end_date=end.isoformat(), feature_views=started)


def _utc_datetime(value: dt.datetime | pd.Timestamp) -> dt.datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    result: dt.datetime = stamp.to_pydatetime()
    return result


# --------------------------------------------------------------------------- retrieval


def _service(fs: FeatureStore, name: str) -> FeatureService:
    from feast.errors import FeatureServiceNotFoundException

    try:
        return fs.get_feature_service(name)
    except FeatureServiceNotFoundException:
        raise FeatureStoreError(
            f"feature service {name!r} is not registered (known: {', '.join(FEATURE_SERVICES)}); "
            "run apply first"
        ) from None


def service_join_keys(fs: FeatureStore, service: FeatureService) -> list[str]:
    keys: list[str] = []
    for projection in service.feature_view_projections:
        try:
            view = fs.get_feature_view(projection.name)
        except Exception:  # on-demand views have no entities of their own
            continue
        for column in view.entity_columns:
            if column.name not in keys:
                keys.append(column.name)
    return keys


def _needs_request_time(fs: FeatureStore, service: FeatureService) -> bool:
    odfv_names = {v.name for v in fs.list_on_demand_feature_views()}
    return any(p.name in odfv_names for p in service.feature_view_projections)


def training_frame(
    feature_service_name: str,
    entity_df: pd.DataFrame,
    *,
    data_dir: Path | str | None = None,
    config: str = "default",
    store: FeatureStore | None = None,
) -> pd.DataFrame:
    """Point-in-time correct features for each row of `entity_df`.

    `entity_df` needs the service's join keys and `event_timestamp` (the
    label's time); any other columns (labels) are kept. Each row gets the
    latest feature values with event_timestamp <= its own and within the
    view's TTL, so nothing recorded after the label's timestamp leaks in.
    On-demand features use `request_time`, which defaults to `event_timestamp`.
    Rows come back in the input order.
    """
    fs = store or open_feature_store(data_dir, config)
    service = _service(fs, feature_service_name)
    keys = service_join_keys(fs, service)
    missing = [c for c in [*keys, "event_timestamp"] if c not in entity_df.columns]
    if missing:
        raise FeatureStoreError(
            f"entity_df for {feature_service_name}: missing column(s) {', '.join(missing)}"
        )
    frame = entity_df.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    for key in keys:  # the feature tables store keys as pandas strings
        frame[key] = frame[key].astype("string")
    if _needs_request_time(fs, service) and REQUEST_TIME not in frame.columns:
        frame[REQUEST_TIME] = frame["event_timestamp"]
    order = f"__row_{uuid.uuid4().hex[:8]}"
    frame[order] = range(len(frame))
    with _quiet_feast():
        result = fs.get_historical_features(entity_df=frame, features=service).to_df()
    # Feast's file offline store drops entity rows whose only matches are older than
    # the TTL; a training set must keep every label, with null features instead.
    features = [c for c in result.columns if c not in frame.columns]
    dropped = len(frame) - len(result)
    if dropped:
        log.debug("%s: %d entity rows had only expired features", feature_service_name, dropped)
    merged = frame.merge(result[[order, *features]], on=order, how="left", validate="1:1")
    return merged.sort_values(order).drop(columns=[order]).reset_index(drop=True)


def online_features(
    feature_service_name: str,
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    data_dir: Path | str | None = None,
    config: str = "default",
    store: FeatureStore | None = None,
    request_time: dt.datetime | None = None,
) -> pd.DataFrame:
    """The service's features for each entity row from the online store.

    On-demand features are computed at `request_time` (default: now, UTC)
    unless a row carries its own `request_time`.
    """
    fs = store or open_feature_store(data_dir, config)
    service = _service(fs, feature_service_name)
    rows = [dict(row) for row in entity_rows]
    if _needs_request_time(fs, service):
        now = _utc_datetime(request_time or dt.datetime.now(dt.UTC))
        for row in rows:
            row[REQUEST_TIME] = _utc_datetime(row.get(REQUEST_TIME) or now)
    with _quiet_feast():
        response = fs.get_online_features(features=service, entity_rows=rows)
    frame = response.to_df()
    keys = [k for k in service_join_keys(fs, service) if k in frame.columns]
    ordered = keys + [
        f.name
        for p in service.feature_view_projections
        for f in p.features
        if f.name in frame.columns and f.name not in keys
    ]
    return frame[ordered]


# --------------------------------------------------------------------------- describe


def describe(
    data_dir: Path | str | None = None,
    config: str = "default",
    *,
    store: FeatureStore | None = None,
) -> dict[str, Any]:
    """What is registered: entities, views (TTL, features), services (features)."""
    fs = store or open_feature_store(data_dir, config)
    if not fs.list_feature_views():
        raise FeatureStoreError(f"nothing registered for project {fs.project}; run apply first")
    views = {
        v.name: {
            "entities": list(v.entities),
            "ttl_seconds": int(v.ttl.total_seconds()) if v.ttl else 0,
            "features": [f.name for f in v.features],
            "source": v.batch_source.name if v.batch_source else None,
        }
        for v in fs.list_feature_views()
    }
    odfvs = {
        v.name: {"features": [f.name for f in v.features]}
        for v in fs.list_on_demand_feature_views()
    }
    services = {
        s.name: {
            "join_keys": service_join_keys(fs, s),
            "features": [
                f"{p.name}:{f.name}" for p in s.feature_view_projections for f in p.features
            ],
        }
        for s in fs.list_feature_services()
    }
    return {
        "project": fs.project,
        "config": config,
        "entities": sorted(e.name for e in fs.list_entities()),
        "feature_views": views,
        "on_demand_feature_views": odfvs,
        "feature_services": services,
    }
