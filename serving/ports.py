"""Ports: what the service needs from the outside world, as Protocols.

Adapters in `serving/adapters/` implement them; `serving.bootstrap` is the
one place that chooses which. Tests pass hand-written fakes.

- `CommissionEngine`: the deterministic calculators (`spm_domain`).
- `ModelProvider`: trained models by registered name and alias
  (`models:/<name>@<alias>` in MLflow). The model endpoints call
  `models.get("deal_risk")` and never touch MLflow themselves.
- `FeatureProvider`: online features by versioned feature-service name
  (`<model>_v<N>` in Feast), for the model endpoints.
- `KeyStore` and `TeamDirectory` live in `serving.security`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from serving.schemas import (
    CommissionCalculation,
    EarningsEstimate,
    FxRow,
    OpenDeal,
    QuotaRow,
    QuotaStatusReport,
    RosterRow,
    TransactionRow,
)


class ComponentUnavailableError(RuntimeError):
    """A port's backing component is missing or down; the message is safe to show."""


@dataclass(frozen=True)
class CalculationInputs:
    plan: Mapping[str, Any]
    transactions: Sequence[TransactionRow]
    quotas: Sequence[QuotaRow] = ()
    roster: Sequence[RosterRow] = ()
    fx: Sequence[FxRow] = ()
    periods: Sequence[str] = ()


@dataclass(frozen=True)
class QuotaStatusInputs:
    quotas: Sequence[QuotaRow]
    transactions: Sequence[TransactionRow]
    measure: str = "revenue"
    currency: str | None = None
    as_of: datetime | None = None  # None: now


@dataclass(frozen=True)
class EstimateInputs:
    plan: Mapping[str, Any]
    rep_id: str
    open_deals: Sequence[OpenDeal]
    transactions: Sequence[TransactionRow] = ()
    quotas: Sequence[QuotaRow] = ()
    roster: Sequence[RosterRow] = ()
    fx: Sequence[FxRow] = ()


class CommissionEngine(Protocol):
    """Commission, quota and estimate calculators (bad input raises DomainError)."""

    def version(self) -> str: ...

    def calculate(self, inputs: CalculationInputs) -> CommissionCalculation: ...

    def quota_status(self, inputs: QuotaStatusInputs) -> QuotaStatusReport: ...

    def estimate_earnings(self, inputs: EstimateInputs) -> EarningsEstimate: ...


@dataclass(frozen=True)
class ModelInfo:
    """What readiness reports about one registered model."""

    name: str
    alias: str
    loaded: bool
    source: str | None = None  # e.g. models:/deal_risk@champion → runs:/<id>/model
    version: str | None = None
    detail: str | None = None


class ServedModel(Protocol):
    """A loaded model: predicts on a frame of features in its signature's columns."""

    name: str
    version: str
    source: str
    feature_service: str  # the Feast feature service it was trained on, e.g. deal_risk_v1

    def predict(self, features: Any) -> Any: ...


class ModelProvider(Protocol):
    def status(self) -> list[ModelInfo]: ...

    def get(self, name: str) -> ServedModel:
        """The loaded model, or ComponentUnavailableError naming why not."""
        ...


class FeatureProvider(Protocol):
    def describe(self) -> str: ...

    def ping(self) -> None:
        """Raise ComponentUnavailableError when the online store cannot serve."""
        ...

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One dict of feature values per entity row, in order (None where the
        store has no value); request-time features at `request_time` (default now)."""
        ...

    def record_features(
        self,
        feature_service: str,
        records: Sequence[Mapping[str, Any]],
        request_time: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The same rows from full records pushed by a caller: stored features
        taken from the record, request-time features computed by the store's code."""
        ...
