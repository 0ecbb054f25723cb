"""Model and feature providers until the MLflow and Feast adapters are wired.

They report every expected model as not loaded (with the reason) so
readiness is honest, and refuse predictions with a 503. The MLflow adapter
(`models:/<name>@<alias>`) and the Feast adapter (online store, feature
services `<model>_v<N>`) replace them in `serving.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from serving.ports import ComponentUnavailableError, ModelInfo, ServedModel


class UnconfiguredModelProvider:
    def __init__(self, names: Sequence[str], alias: str, reason: str) -> None:
        self.names = tuple(names)
        self.alias = alias
        self.reason = reason

    def status(self) -> list[ModelInfo]:
        return [
            ModelInfo(name=n, alias=self.alias, loaded=False, detail=self.reason)
            for n in self.names
        ]

    def get(self, name: str) -> ServedModel:
        raise ComponentUnavailableError(f"model {name!r} is not available: {self.reason}")


class UnconfiguredFeatureProvider:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def describe(self) -> str:
        return "not configured"

    def ping(self) -> None:
        raise ComponentUnavailableError(self.reason)

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        raise ComponentUnavailableError(
            f"online features for {feature_service!r} are not available: {self.reason}"
        )

    def record_features(
        self,
        feature_service: str,
        records: Sequence[Mapping[str, Any]],
        request_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        raise ComponentUnavailableError(
            f"request-time features for {feature_service!r} are not available: {self.reason}"
        )
