"""Online features for the model endpoints: a direct read of Feast's SQLite
online store (the fast path) and Feast's stock `get_online_features` (the
reference it is tested against).

Layout contract of the SQLite online store (Feast 0.67, `online_store.type:
sqlite`, `entity_key_serialization_version: 3`), read-only here:

- one table per feature view, named `<project>_<feature_view>`;
- columns `entity_key BLOB, feature_name TEXT, value BLOB, event_ts, created_ts`,
  primary key `(entity_key, feature_name)`;
- `entity_key` = Feast's `serialize_entity_key(EntityKeyProto(join_keys,
  values), 3)`; `value` = a serialized `feast.types.Value` protobuf.

What to read (views, features, join keys of a feature service, and the
on-demand views with their request-time code) comes from the Feast registry,
read once when the adapter is built. On-demand features are computed by the
transformation registered in Feast: the same code training used for its
point-in-time rows (with `request_time` = the label's time there, now here).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from serving.ports import ComponentUnavailableError

log = logging.getLogger(__name__)

REQUEST_TIME = "request_time"


@dataclass(frozen=True)
class _ViewRead:
    table: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]  # what the service returns
    inputs_only: tuple[str, ...] = ()  # read only to feed on-demand features

    @property
    def columns(self) -> tuple[str, ...]:
        return self.features + self.inputs_only


@dataclass(frozen=True)
class _OnDemand:
    name: str
    inputs: tuple[str, ...]  # source feature names the transformation reads
    outputs: tuple[str, ...]
    transformation: Any


@dataclass(frozen=True)
class ServicePlan:
    """How to answer one feature service: direct view reads, then on-demand steps."""

    name: str
    join_keys: tuple[str, ...]
    views: tuple[_ViewRead, ...]
    on_demand: tuple[_OnDemand, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        names = [f for v in self.views for f in v.features]
        names += [f for o in self.on_demand for f in o.outputs]
        return tuple(dict.fromkeys(names))

    @property
    def record_fields(self) -> tuple[str, ...]:
        """What a full record must carry for the by-record mode (inputs of on-demand steps)."""
        return tuple(dict.fromkeys(i for o in self.on_demand for i in o.inputs))


def _open_store(repo_dir: Path) -> Any:
    from feast import FeatureStore

    config = repo_dir / "feature_store.yaml"
    if not config.is_file():
        raise ComponentUnavailableError("the feature store has no feature_store.yaml (run apply)")
    return FeatureStore(repo_path=str(repo_dir))


def plan_services(store: Any) -> dict[str, ServicePlan]:
    """Read every feature service's plan from the Feast registry."""
    odfvs = {v.name: v for v in store.list_on_demand_feature_views()}
    views = {v.name: v for v in store.list_feature_views()}
    plans = {}
    for service in store.list_feature_services():
        reads: list[_ViewRead] = []
        steps: list[_OnDemand] = []
        keys: list[str] = []
        needed: dict[str, set[str]] = {}
        for projection in service.feature_view_projections:
            if projection.name in odfvs:
                odfv = odfvs[projection.name]
                inputs = [
                    f.name
                    for p in odfv.source_feature_view_projections.values()
                    for f in p.features
                ]
                for source in odfv.source_feature_view_projections.values():
                    needed.setdefault(source.name, set()).update(f.name for f in source.features)
                steps.append(
                    _OnDemand(
                        odfv.name,
                        tuple(inputs),
                        tuple(f.name for f in projection.features),
                        odfv.feature_transformation,
                    )
                )
                continue
            view = views[projection.name]
            join = tuple(c.name for c in view.entity_columns)
            keys += [k for k in join if k not in keys]
            reads.append(
                _ViewRead(
                    f"{store.project}_{view.name}", join, tuple(f.name for f in projection.features)
                )
            )
        # on-demand inputs not projected by the service still have to be read
        for read_index, read in enumerate(reads):
            view_name = read.table.removeprefix(f"{store.project}_")
            extra = tuple(sorted(needed.pop(view_name, set()) - set(read.features)))
            if extra:
                reads[read_index] = _ViewRead(read.table, read.join_keys, read.features, extra)
        for view_name, extra_features in needed.items():
            view = views[view_name]
            join = tuple(c.name for c in view.entity_columns)
            reads.append(
                _ViewRead(f"{store.project}_{view_name}", join, (), tuple(sorted(extra_features)))
            )
        plans[service.name] = ServicePlan(service.name, tuple(keys), tuple(reads), tuple(steps))
    return plans


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def apply_on_demand(plan: ServicePlan, rows: list[dict[str, Any]], now: dt.datetime) -> None:
    """Add the request-time features to each row (in place), with Feast's registered code."""
    if not plan.on_demand or not rows:
        return
    for row in rows:
        row[REQUEST_TIME] = _utc(row.get(REQUEST_TIME) or now)
    for step in plan.on_demand:
        columns = [*step.inputs, REQUEST_TIME]
        frame = pd.DataFrame({c: [row.get(c) for row in rows] for c in columns})
        for column in step.inputs:  # timestamps travel as text or datetimes
            if frame[column].dtype == object:
                frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
        frame[REQUEST_TIME] = pd.to_datetime(frame[REQUEST_TIME], utc=True)
        result = step.transformation.transform(frame)
        for output in step.outputs:
            values = result[output].to_numpy(dtype="float64", na_value=np.nan)
            for row, value in zip(rows, values.tolist(), strict=True):
                row[output] = None if value != value else value  # NaN -> None


_CACHE_ENTRIES = 100_000  # per cache; cleared when full (entries are small, bytes each)
_PLAIN_SCALARS = frozenset(
    {"int64_val", "int32_val", "double_val", "float_val", "string_val", "bool_val", "bytes_val"}
)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, dt.datetime)


class _ValueDecoder:
    """Stored `feast.types.Value` blobs to Python values, as Feast's
    `feast_value_type_to_python_type` gives them: plain scalars are read
    directly (that function only returns their field), anything else goes
    through it. Immutable results are cached by blob: stored values repeat
    (stages, sources, dates), and a dict lookup costs less than a decode."""

    def __init__(self) -> None:
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        self._parse = Value.FromString
        self._feast = feast_value_type_to_python_type
        self._cache: dict[bytes, Any] = {}

    def decode(self, blob: bytes) -> Any:
        try:
            return self._cache[blob]
        except KeyError:
            pass
        proto = self._parse(blob)
        kind = proto.WhichOneof("val")
        if kind is None:
            value = None
        elif kind in _PLAIN_SCALARS:
            value = getattr(proto, kind)
        else:
            value = self._feast(proto)
        if isinstance(value, _IMMUTABLE):
            if len(self._cache) >= _CACHE_ENTRIES:
                self._cache.clear()
            self._cache[blob] = value
        return value


def record_rows(
    plan: ServicePlan, records: Sequence[Mapping[str, Any]], request_time: dt.datetime | None
) -> list[dict[str, Any]]:
    """Feature rows from full records pushed by a caller: the record's values as
    stored features, plus the request-time features computed by Feast's code."""
    rows = [dict(record) for record in records]
    apply_on_demand(plan, rows, request_time or dt.datetime.now(dt.UTC))
    names = (*plan.join_keys, *plan.feature_names)
    return [{k: row.get(k) for k in names} for row in rows]


class SqliteOnlineFeatures:
    """`FeatureProvider`: direct reads of Feast's SQLite online store (see module doc)."""

    local_reads = True  # a local file: a one-row read may run on the event loop

    def __init__(self, repo_dir: Path) -> None:
        self.repo_dir = Path(repo_dir)
        store = _open_store(self.repo_dir)
        self.plans = plan_services(store)
        online = store.config.online_store
        path = Path(online.path)
        self.db_path = path if path.is_absolute() else self.repo_dir / path
        self.key_version = int(store.config.entity_key_serialization_version)
        self._local = threading.local()
        self._keys: dict[tuple[tuple[str, ...], tuple[str, ...]], bytes] = {}
        self._values = _ValueDecoder()

    def describe(self) -> str:
        return f"feast sqlite online store (direct read): {self.db_path.name}"

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            uri = f"file:{self.db_path}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.connection = connection
        return connection

    def ping(self) -> None:
        if not self.db_path.is_file():
            raise ComponentUnavailableError("the online store has not been materialized")
        self._connection().execute("SELECT 1")

    def plan(self, feature_service: str) -> ServicePlan:
        found = self.plans.get(feature_service)
        if found is None:
            raise ComponentUnavailableError(
                f"feature service {feature_service!r} is not registered"
            )
        return found

    def _entity_key(self, join_keys: Sequence[str], values: Sequence[Any]) -> bytes:
        cache_key = (tuple(join_keys), tuple(str(v) for v in values))
        found = self._keys.get(cache_key)
        if found is not None:
            return found
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        proto = EntityKey(
            join_keys=list(join_keys), entity_values=[Value(string_val=v) for v in cache_key[1]]
        )
        key = serialize_entity_key(proto, entity_key_serialization_version=self.key_version)
        if len(self._keys) >= _CACHE_ENTRIES:
            self._keys.clear()
        self._keys[cache_key] = key
        return key

    def _read_view(
        self, read: _ViewRead, rows: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        keys = [self._entity_key(read.join_keys, [row[k] for k in read.join_keys]) for row in rows]
        found: dict[bytes, dict[str, Any]] = {}
        wanted = set(read.columns)
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                cursor = self._connection().execute(
                    f'SELECT entity_key, feature_name, value FROM "{read.table}" '  # table names come from the registry
                    f"WHERE entity_key IN ({marks})",
                    chunk,
                )
            except sqlite3.Error as exc:
                raise ComponentUnavailableError(
                    f"online store table {read.table} cannot be read ({type(exc).__name__})"
                ) from None
            for key, feature, blob in cursor:
                if feature in wanted:
                    found.setdefault(key, {})[feature] = self._values.decode(blob)
        return [found.get(key, {}) for key in keys]

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        plan = self.plan(feature_service)
        missing = [k for k in plan.join_keys if any(k not in row for row in entity_rows)]
        if missing:
            raise ValueError(f"entity rows for {feature_service} need {', '.join(missing)}")
        rows = [{k: row[k] for k in plan.join_keys} for row in entity_rows]
        for index, row in enumerate(entity_rows):
            if row.get(REQUEST_TIME) is not None:
                rows[index][REQUEST_TIME] = row[REQUEST_TIME]
        for read in plan.views:
            for row, values in zip(rows, self._read_view(read, entity_rows), strict=True):
                for feature in read.columns:
                    row[feature] = values.get(feature)
        apply_on_demand(plan, rows, request_time or dt.datetime.now(dt.UTC))
        return [{k: row.get(k) for k in (*plan.join_keys, *plan.feature_names)} for row in rows]

    def record_features(
        self,
        feature_service: str,
        records: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Feature rows from full records pushed by a caller (`record_rows`)."""
        return record_rows(self.plan(feature_service), records, request_time)


class FeastOnlineFeatures:
    """Feast's stock `get_online_features` (the reference; slower per call)."""

    def __init__(self, repo_dir: Path) -> None:
        self.repo_dir = Path(repo_dir)
        self.store = _open_store(self.repo_dir)
        self.plans = plan_services(self.store)

    def describe(self) -> str:
        return "feast get_online_features"

    def ping(self) -> None:
        self.store.list_feature_services()

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        plan = self.plans[feature_service]
        service = self.store.get_feature_service(feature_service)
        now = _utc(request_time or dt.datetime.now(dt.UTC)).to_pydatetime()
        rows = [dict(row) for row in entity_rows]
        if plan.on_demand:
            for row in rows:
                row[REQUEST_TIME] = _utc(row.get(REQUEST_TIME) or now).to_pydatetime()
        result = self.store.get_online_features(features=service, entity_rows=rows).to_dict()
        names = (*plan.join_keys, *plan.feature_names)
        return [{k: result[k][i] for k in names if k in result} for i in range(len(rows))]

    def record_features(
        self,
        feature_service: str,
        records: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        return record_rows(self.plans[feature_service], records, request_time)
