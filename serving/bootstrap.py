"""The composition root of the service: the one place that picks adapters.

`get_runtime()` builds the runtime on first use from `load_settings()` (env
and config file), never at import time. Tests call `use_runtime(...)` with
fakes, or set environment variables and let the real adapters be built.

Model and feature adapters:
- models: `MlflowModelProvider` (`models:/<name>@<settings.model_alias>`, loaded
  natively, hot-reloaded, last good local copy when the registry is down);
- features: `SqliteOnlineFeatures` (direct read of Feast's SQLite online
  store) or `FeastOnlineFeatures` (e.g. Redis), from `settings.feature_repo`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from serving.ports import CommissionEngine, FeatureProvider, ModelProvider
from serving.security import KeyStore, TeamDirectory
from serving.settings import ServingSettings, load_settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request handler may use; built once per worker process."""

    settings: ServingSettings
    keys: KeyStore
    teams: TeamDirectory
    engine: CommissionEngine
    models: ModelProvider
    features: FeatureProvider


def _team_directory(settings: ServingSettings) -> TeamDirectory:
    from serving.adapters.team_directory import ParquetTeamDirectory, SqlTeamDirectory

    store = settings.resolved_canonical_store
    if store.startswith("postgresql") or store.startswith("sqlite"):
        return SqlTeamDirectory(store, schema=settings.canonical_schema)
    return ParquetTeamDirectory(Path(store) / "canonical" / "reps.parquet")


def _model_provider(settings: ServingSettings) -> ModelProvider:
    """MLflow registry by alias (hot reload, last good local copy), when configured."""
    from serving.adapters.mlflow_models import MlflowModelProvider
    from serving.adapters.models import UnconfiguredModelProvider

    cache = settings.resolved_model_cache_dir
    if not settings.mlflow_tracking_uri and not cache.is_dir():
        return UnconfiguredModelProvider(
            settings.model_names,
            settings.model_alias,
            "no MLflow tracking URI is configured (SPM_SERVING_MLFLOW_TRACKING_URI)",
        )
    # Without a URI the provider serves the local copies only (the registry "is unreachable").
    uri = settings.mlflow_tracking_uri or f"file:{cache / '.no-registry'}"
    return MlflowModelProvider(
        uri,
        settings.model_names,
        settings.model_alias,
        cache,
        poll_seconds=settings.model_poll_seconds,
    ).start()


def _feature_provider(settings: ServingSettings) -> FeatureProvider:
    """Direct reads of the SQLite online store; Feast's own client for other stores."""
    from serving.adapters.models import UnconfiguredFeatureProvider
    from serving.adapters.online_store import FeastOnlineFeatures, SqliteOnlineFeatures
    from serving.ports import ComponentUnavailableError

    repo = settings.resolved_feature_repo
    if not (repo / "feature_store.yaml").is_file():
        return UnconfiguredFeatureProvider(
            "no feature_store.yaml in the feature repo (spm features apply; SPM_SERVING_FEATURE_REPO)"
        )
    try:
        import yaml

        config = yaml.safe_load((repo / "feature_store.yaml").read_text(encoding="utf-8")) or {}
        if (config.get("online_store") or {}).get("type", "sqlite") == "sqlite":
            return SqliteOnlineFeatures(repo)
        return FeastOnlineFeatures(repo)
    except ComponentUnavailableError as exc:
        return UnconfiguredFeatureProvider(str(exc))
    except Exception as exc:  # a broken repo must not stop the calculators from serving
        log.warning("online features unavailable: %s", exc)
        return UnconfiguredFeatureProvider(
            f"the feature store cannot be opened ({type(exc).__name__})"
        )


def key_store(settings: ServingSettings) -> KeyStore:
    from serving.adapters.key_store import SqlKeyStore

    return SqlKeyStore(settings.resolved_key_store_url, schema=settings.key_store_schema)


def build_runtime(
    settings: ServingSettings | None = None,
    *,
    keys: KeyStore | None = None,
    teams: TeamDirectory | None = None,
    engine: CommissionEngine | None = None,
    models: ModelProvider | None = None,
    features: FeatureProvider | None = None,
) -> Runtime:
    """Wire the real adapters, except those passed in (fakes in tests)."""
    from serving.adapters.domain_engine import DomainCommissionEngine

    settings = settings or load_settings()
    return Runtime(
        settings=settings,
        keys=keys or key_store(settings),
        teams=teams or _team_directory(settings),
        engine=engine or DomainCommissionEngine(),
        models=models or _model_provider(settings),
        features=features or _feature_provider(settings),
    )


_lock = threading.Lock()
_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = build_runtime()
            log.info(
                "serving runtime built (key store %s)", _current.settings.resolved_key_store_url
            )
        return _current


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    """Serve with this runtime inside the block (tests), then restore the previous one."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    try:
        yield runtime
    finally:
        with _lock:
            _current = previous


def reset_runtime() -> None:
    """Forget the built runtime (the next request rebuilds it from settings)."""
    global _current
    with _lock:
        _current = None
