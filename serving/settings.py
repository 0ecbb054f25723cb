"""Serving configuration: defaults < YAML config file < environment variables.

Read only when the service starts (never at import time). Every setting has
an environment variable `SPM_SERVING_<NAME>` (upper case) and the same key,
lower case, in the YAML file named by `SPM_SERVING_CONFIG`; see
`docs/serving.md` for the table and production values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CONFIG_ENV = "SPM_SERVING_CONFIG"
ENV_PREFIX = "SPM_SERVING_"
MODEL_NAMES = ("lead_scoring", "deal_risk", "attainment", "revenue_forecast")


class SettingsError(ValueError):
    """A configuration value that cannot be used; names the setting at fault."""


@dataclass(frozen=True)
class ServingSettings:
    data_dir: Path = Path("./data")
    # Hashed API keys; any SQLAlchemy URL (PostgreSQL in production).
    key_store_url: str = ""
    key_store_schema: str | None = None
    # Canonical store holding `reps` (a directory or a postgresql+psycopg:// URL).
    canonical_store: str = ""
    canonical_schema: str | None = None
    # Request limits.
    max_request_bytes: int = 5 * 1024 * 1024
    max_rows: int = 100_000
    # Models (used by the model endpoints): MLflow registry and alias.
    mlflow_tracking_uri: str = ""
    model_alias: str = "champion"
    model_names: tuple[str, ...] = MODEL_NAMES
    # Models that must be loaded before /readyz reports ready (empty: none).
    required_models: tuple[str, ...] = ()
    # How often (seconds) the registry is asked whether an alias moved (hot reload).
    model_poll_seconds: int = 30
    # Last good local copies of the served models (default <data_dir>/serving/models).
    model_cache_dir: str = ""
    # Feast repo for online features (SQLite online store by default, Redis in production).
    feature_repo: str = ""
    # Adaptive batching of the score endpoints' model calls (docs/serving.md "Batching").
    score_batching: bool = False  # measured slower for these LightGBM models (docs/serving.md)
    # At most this many score requests merged into one model call (>= 2).
    score_max_batch_size: int = 32
    # Longest a score request waits for its batch (ms) before it is scored on its own.
    score_max_latency_ms: int = 20
    # Score requests processed at once per worker (threads; bounds the batch size reached).
    score_threads: int = 32
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved_key_store_url(self) -> str:
        return (
            self.key_store_url
            or f"sqlite:///{(self.data_dir / 'serving' / 'api_keys.sqlite').resolve()}"
        )

    @property
    def resolved_model_cache_dir(self) -> Path:
        return (
            Path(self.model_cache_dir)
            if self.model_cache_dir
            else self.data_dir / "serving" / "models"
        )

    @property
    def resolved_feature_repo(self) -> Path:
        """The Feast repo (the data directory `spm features apply` wrote its yaml into)."""
        return Path(self.feature_repo) if self.feature_repo else self.data_dir

    @property
    def resolved_canonical_store(self) -> str:
        return self.canonical_store or str(self.data_dir.resolve())


_INT_FIELDS = {
    "max_request_bytes",
    "max_rows",
    "model_poll_seconds",
    "score_max_batch_size",
    "score_max_latency_ms",
    "score_threads",
}
_BOOL_FIELDS = {"score_batching"}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_TUPLE_FIELDS = {"model_names", "required_models"}
_OPTIONAL_FIELDS = {"key_store_schema", "canonical_schema"}


def _coerce(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(str(value))
    if name in _INT_FIELDS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"setting {name}: {value!r} is not an integer") from None
        if number <= 0:
            raise SettingsError(f"setting {name}: must be positive, got {number}")
        if name == "score_max_batch_size" and number < 2:
            raise SettingsError(f"setting {name}: must be at least 2, got {number}")
        return number
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise SettingsError(f"setting {name}: {value!r} is not true or false")
    if name in _TUPLE_FIELDS:
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        return tuple(str(i).strip() for i in items if str(i).strip())
    if name in _OPTIONAL_FIELDS:
        return str(value) if value not in (None, "") else None
    return str(value)


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> ServingSettings:
    """Build settings from an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(ServingSettings)} - {"extra"}
    values: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise SettingsError(f"config file {path}: cannot be read ({exc.strerror})") from None
        if not isinstance(loaded, dict):
            raise SettingsError(f"config file {path}: must be a mapping of setting: value")
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise SettingsError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
        values.update({k: _coerce(k, v) for k, v in loaded.items()})
    if env.get("SPM_DATA_DIR") and "data_dir" not in values:
        values["data_dir"] = Path(env["SPM_DATA_DIR"])
    for name in known:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    if not values.get("mlflow_tracking_uri") and env.get("MLFLOW_TRACKING_URI"):
        values["mlflow_tracking_uri"] = env["MLFLOW_TRACKING_URI"]
    settings = replace(ServingSettings(), **values)
    unknown_required = sorted(set(settings.required_models) - set(settings.model_names))
    if unknown_required:
        raise SettingsError(
            f"setting required_models: {', '.join(unknown_required)} not among model_names"
        )
    return settings
