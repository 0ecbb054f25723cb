"""Models from the MLflow registry by alias, loaded natively, hot-reloaded.

`MlflowModelProvider` resolves `models:/<name>@<alias>` to a version, copies the
version's `artifacts/pipeline/` directory into a local cache
(`<cache>/<name>/<version>/`, renamed into place so a copy is whole or absent),
records it as the last good copy (`<cache>/<name>/current.json`) and loads it
with LightGBM directly (`NativePipeline`): MLflow's pyfunc wrapper is only the
training-side contract, never on the request path.

Hot reload: `refresh()` (called every `poll_seconds` by a daemon thread) asks
the registry which version the alias points at; on a change it loads the new
version beside the old one and then swaps one reference. Requests in flight
keep the model object they already hold, so none fails during a swap.

Fallback: when the registry cannot be reached at start, each model is loaded
from its last good local copy and `status()` says so (readiness shows it).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.adapters.native_model import LoadedModel, NativePipeline
from serving.ports import ComponentUnavailableError, ModelInfo, ServedModel

log = logging.getLogger(__name__)

PIPELINE_ARTIFACT = "pipeline"
CURRENT_FILE = "current.json"


class RegistryUnavailableError(RuntimeError):
    """The MLflow registry did not answer (or has no such alias)."""


@dataclass
class _Slot:
    """What is known about one registered model name."""

    model: LoadedModel | None = None
    detail: str | None = None
    from_local_copy: bool = False


def _pipeline_dir(model_dir: Path) -> Path:
    """Where the `pipeline` artifact sits inside a downloaded pyfunc model."""
    mlmodel = model_dir / "MLmodel"
    if mlmodel.is_file():
        import yaml

        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
        artifacts = (spec.get("flavors", {}).get("python_function", {}) or {}).get("artifacts")
        entry = (artifacts or {}).get(PIPELINE_ARTIFACT)
        if isinstance(entry, dict) and entry.get("path"):
            return model_dir / str(entry["path"])
    return model_dir / "artifacts" / PIPELINE_ARTIFACT


class MlflowModelProvider:
    """`ModelProvider` over an MLflow registry (any tracking URI MLflow supports)."""

    def __init__(
        self,
        tracking_uri: str,
        names: Sequence[str],
        alias: str,
        cache_dir: Path,
        poll_seconds: float = 30.0,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.names = tuple(names)
        self.alias = alias
        self.cache_dir = Path(cache_dir)
        self.poll_seconds = poll_seconds
        self._slots = {name: _Slot() for name in self.names}
        self._lock = threading.Lock()  # one refresh at a time; reads never take it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    # ------------------------------------------------------------------ registry

    def _registry(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def _probe(self) -> None:
        """Fail fast when the registry is plainly not there: MLflow's own client
        retries for minutes (HTTP) or creates an empty store (a missing SQLite file)."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.tracking_uri)
        if parts.scheme in ("http", "https"):
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                socket.create_connection((parts.hostname or "localhost", port), timeout=2).close()
            except OSError as exc:
                raise RegistryUnavailableError(
                    f"registry at {parts.hostname}:{port} did not answer ({type(exc).__name__})"
                ) from None
        elif parts.scheme == "sqlite":
            path = Path(self.tracking_uri.removeprefix("sqlite:///"))
            if not path.is_file():
                raise RegistryUnavailableError(f"registry database {path.name} does not exist")

    def _champion(self, name: str) -> tuple[str, str]:
        """(version, feature service) the alias points at, or RegistryUnavailableError."""
        self._probe()
        try:
            found = self._registry().get_model_version_by_alias(name, self.alias)
        except Exception as exc:  # MLflow raises many kinds; all mean "not from here, now"
            self._client = None  # reconnect next time
            raise RegistryUnavailableError(
                f"registry did not resolve models:/{name}@{self.alias}: {type(exc).__name__}"
            ) from exc
        tags = dict(found.tags or {})
        return str(found.version), str(tags.get("feature_service") or f"{name}_v1")

    def _download(self, name: str, version: str) -> Path:
        """Copy the version's pipeline directory into the cache (whole or not at all)."""
        import mlflow

        target = self.cache_dir / name / version
        if (target / "model.txt").is_file():
            return target
        staging = self.cache_dir / name / f".{version}.{uuid.uuid4().hex[:8]}.partial"
        staging.mkdir(parents=True)
        try:
            # Resolve the version's storage location with OUR registry client: a bare
            # `models:/` URI would be looked up in MLflow's process-wide default
            # registry, not in `self.tracking_uri` (the real-model load bug).
            source = self._registry().get_model_version_download_uri(name, version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source,
                dst_path=str(staging / "model"),
                tracking_uri=self.tracking_uri,
            )
            shutil.copytree(_pipeline_dir(Path(local)), staging / "pipeline")
            (staging / "pipeline").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _remember(self, name: str, version: str, feature_service: str) -> None:
        record = {"version": version, "feature_service": feature_service, "alias": self.alias}
        path = self.cache_dir / name / CURRENT_FILE
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(path)

    def _local_copy(self, name: str) -> LoadedModel:
        path = self.cache_dir / name / CURRENT_FILE
        if not path.is_file():
            raise ComponentUnavailableError(f"no local copy of {name!r}")
        record = json.loads(path.read_text(encoding="utf-8"))
        version = str(record["version"])
        return LoadedModel(
            name=name,
            version=version,
            source=f"local copy of models:/{name}/{version}",
            feature_service=str(record["feature_service"]),
            pipeline=NativePipeline(self.cache_dir / name / version),
        )

    # ------------------------------------------------------------------ loading

    def _refresh_one(self, name: str) -> bool:
        """Load the alias's version when it changed; True when a new model was swapped in."""
        slot = self._slots[name]
        try:
            version, feature_service = self._champion(name)
        except RegistryUnavailableError as exc:
            if slot.model is None:
                try:
                    slot.model = self._local_copy(name)
                    slot.from_local_copy = True
                    slot.detail = f"{exc}; serving the last good local copy"
                    log.warning("%s: %s", name, slot.detail)
                    return True
                except Exception as local_exc:
                    slot.detail = f"{exc}; {local_exc}"
            elif not slot.from_local_copy:
                log.warning("%s: %s; keeping version %s", name, exc, slot.model.version)
            return False
        if slot.model is not None and slot.model.version == version and not slot.from_local_copy:
            return False
        try:
            directory = self._download(name, version)
            model = LoadedModel(
                name=name,
                version=version,
                source=f"models:/{name}@{self.alias}",
                feature_service=feature_service,
                pipeline=NativePipeline(directory),
            )
        except Exception as exc:
            log.exception(
                "%s: version %s could not be loaded; keeping the current model", name, version
            )
            if slot.model is None:
                slot.detail = f"version {version} could not be loaded: {type(exc).__name__}"
            return False
        self._remember(name, version, feature_service)
        previous = slot.model.version if slot.model else None
        slot.model, slot.from_local_copy, slot.detail = model, False, None  # the swap
        log.info("%s: serving version %s (was %s)", name, version, previous)
        return True

    def refresh(self) -> list[str]:
        """Check every alias once; the names whose model changed."""
        with self._lock:
            return [name for name in self.names if self._refresh_one(name)]

    def start(self) -> MlflowModelProvider:
        """Load every model now, then poll the registry in the background."""
        self.refresh()
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="spm-model-reload", daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:  # never let the reload thread die
                log.exception("model reload check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ------------------------------------------------------------------ the port

    def status(self) -> list[ModelInfo]:
        infos = []
        for name in self.names:
            slot = self._slots[name]
            model = slot.model
            infos.append(
                ModelInfo(
                    name=name,
                    alias=self.alias,
                    loaded=model is not None,
                    source=model.source if model else None,
                    version=model.version if model else None,
                    detail=slot.detail,
                )
            )
        return infos

    def get(self, name: str) -> ServedModel:
        slot = self._slots.get(name)
        if slot is None:
            raise ComponentUnavailableError(f"model {name!r} is not served here")
        model = slot.model
        if model is None:
            raise ComponentUnavailableError(
                f"model {name!r} is not loaded: {slot.detail or 'not loaded yet'}"
            )
        return model


class DirectoryModelProvider:
    """Models from plain artifact directories `<root>/<name>/` (no registry):
    offline installs and tests. Each directory follows the artifact contract."""

    def __init__(self, models: dict[str, LoadedModel]) -> None:
        self._models = dict(models)

    @classmethod
    def from_root(cls, root: Path, names: Sequence[str]) -> DirectoryModelProvider:
        found = {}
        for name in names:
            directory = Path(root) / name
            if (directory / "model.txt").is_file():
                found[name] = LoadedModel(
                    name, "local", f"file:{directory.name}", f"{name}_v1", NativePipeline(directory)
                )
        return cls(found)

    def status(self) -> list[ModelInfo]:
        return [
            ModelInfo(n, "local", True, source=m.source, version=m.version)
            for n, m in self._models.items()
        ]

    def get(self, name: str) -> ServedModel:
        if name not in self._models:
            raise ComponentUnavailableError(f"model {name!r} is not loaded")
        return self._models[name]


def wait_for_version(
    provider: MlflowModelProvider, name: str, version: str, timeout: float
) -> bool:
    """True once `name` serves `version` (used by tests and the CLI's reload check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slot = provider._slots.get(name)
        if slot and slot.model and slot.model.version == version:
            return True
        time.sleep(0.05)
    return False
