"""`GET /v1/health` and `GET /v1/health/ready` (mounted next to the BentoML
APIs, behind the same guard). BentoML's own `/livez`, `/readyz` and
`/metrics` stay unauthenticated for probes and Prometheus."""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

from serving.bootstrap import Runtime
from serving.ports import ComponentUnavailableError
from serving.schemas import ComponentHealth, Health, ModelHealth, Readiness

log = logging.getLogger(__name__)


def service_version() -> str:
    try:
        return version("spm-platform")
    except PackageNotFoundError:
        return "unknown"


def health() -> Health:
    return Health(status="ok", version=service_version())


def _check(name: str, source: str | None, probe: object) -> ComponentHealth:
    try:
        result = probe() if callable(probe) else None
    except ComponentUnavailableError as exc:
        # Expected until configured (probes call this often): quiet, and safe to show.
        log.debug("readiness: %s is not available: %s", name, exc)
        return ComponentHealth(name=name, ok=False, source=source, detail=str(exc))
    except Exception as exc:
        log.warning("readiness: %s is not available: %s", name, exc)
        safe = type(exc).__name__  # other messages may hold hosts or paths
        return ComponentHealth(name=name, ok=False, source=source, detail=safe)
    detail = str(result) if isinstance(result, str) else None
    return ComponentHealth(name=name, ok=True, source=source, detail=detail)


def _probe_roster(runtime: Runtime) -> None:
    runtime.teams.team_of("")  # loads the reps table; raises when it cannot be read


def readiness(runtime: Runtime) -> Readiness:
    """What serves requests right now; ready when the key store answers and
    every required model is loaded."""
    components = [
        _check("key_store", runtime.keys.describe(), runtime.keys.ping),
        _check("roster", runtime.teams.describe(), lambda: _probe_roster(runtime)),
        _check("commission_engine", "spm_domain", runtime.engine.version),
        _check("online_features", runtime.features.describe(), runtime.features.ping),
    ]
    required = set(runtime.settings.required_models)
    models = [
        ModelHealth(
            name=m.name,
            alias=m.alias,
            loaded=m.loaded,
            required=m.name in required,
            source=m.source,
            version=m.version,
            detail=m.detail,
        )
        for m in runtime.models.status()
    ]
    key_store_ok = components[0].ok
    ready = key_store_ok and all(m.loaded for m in models if m.required)
    return Readiness(ready=ready, components=components, models=models)
