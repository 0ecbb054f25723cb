"""Baselines every model is logged beside (and must beat on held-out data).

- `HistoricalWinRateClassifier`: the win rate of the deal's group, nested
  (e.g. stage → rep → product), each level shrunk towards its parent so thin
  groups fall back to the broader rate.
- `RunRateClassifier`: run-rate extrapolation of attainment (attainment to
  date / elapsed fraction of the period), turned into a probability by a
  one-feature logistic fit on the training snapshots.
- `logistic_baseline(spec)`: one-hot + standardised logistic regression.

The first two learn only numbers and strings, so they save as JSON; the
logistic pipeline saves with skops (never pickle).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from training.encoding import FeatureSpec
from training.pipelines import binary_target

MISSING_KEY = "<missing>"


def _binary_target(estimator: BaseEstimator, y: Any) -> np.ndarray:
    classes, target = binary_target(estimator, y)
    estimator.classes_ = classes  # type: ignore[attr-defined]
    return target


def _key(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return MISSING_KEY
    return str(value)


class HistoricalWinRateClassifier(ClassifierMixin, BaseEstimator):
    """Smoothed historical win rate of nested groups.

    `levels` are column names (or indices) from broad to fine. The rate of a
    group at level d is (wins + prior_strength * parent rate) / (deals +
    prior_strength); unseen groups take their parent's rate.
    """

    def __init__(
        self, levels: Sequence[Hashable] | None = None, prior_strength: float = 20.0
    ) -> None:
        self.levels = levels
        self.prior_strength = prior_strength

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def _keys(self, X: Any, reset: bool) -> list[list[str]]:
        if isinstance(X, pd.DataFrame) and self.levels is not None:
            missing = [c for c in self.levels if c not in X.columns]
            if missing:
                raise ValueError(f"win-rate baseline: feature frame is missing columns {missing}")
            if reset:
                self.n_features_in_ = len(self.levels)
            columns = [X[c].tolist() for c in self.levels]
        else:
            array = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=None)
            indices = list(range(array.shape[1])) if self.levels is None else list(self.levels)
            columns = [array[:, i].tolist() for i in indices]  # type: ignore[call-overload]
        return [[_key(v) for v in column] for column in columns]

    def fit(self, X: Any, y: Any) -> HistoricalWinRateClassifier:
        if self.prior_strength < 0:
            raise ValueError("prior_strength must be >= 0")
        if isinstance(X, pd.DataFrame) and self.levels is not None:
            target = _binary_target(self, y)
        else:
            X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=None)
            target = _binary_target(self, y)
        keys = self._keys(X, reset=isinstance(X, pd.DataFrame))
        self.global_rate_ = float(target.mean())
        self.tables_: list[dict[str, list[float]]] = []
        paths = [""] * target.size
        for column in keys:
            paths = [f"{p}\x1f{v}" for p, v in zip(paths, column, strict=True)]
            frame = pd.DataFrame({"path": paths, "y": target})
            grouped = frame.groupby("path")["y"].agg(["size", "sum"])
            self.tables_.append(
                {
                    k: [float(n), float(s)]
                    for k, (n, s) in zip(grouped.index, grouped.to_numpy(), strict=True)
                }
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "tables_")
        keys = self._keys(X, reset=False)
        n_rows = len(keys[0]) if keys else len(X)
        rates = np.full(n_rows, self.global_rate_)
        paths = [""] * n_rows
        for column, table in zip(keys, self.tables_, strict=True):
            paths = [f"{p}\x1f{v}" for p, v in zip(paths, column, strict=True)]
            for i, path in enumerate(paths):
                seen = table.get(path)
                if seen is not None:
                    n, wins = seen
                    rates[i] = (wins + self.prior_strength * rates[i]) / (n + self.prior_strength)
        return np.column_stack([1.0 - rates, rates])

    def predict(self, X: Any) -> np.ndarray:
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return np.asarray(self.classes_[positive.astype(int)])

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, "tables_")
        return {
            "kind": "historical_win_rate",
            "levels": list(self.levels) if self.levels is not None else None,
            "prior_strength": self.prior_strength,
            "classes": self.classes_.tolist(),
            "global_rate": self.global_rate_,
            "tables": self.tables_,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> HistoricalWinRateClassifier:
        model = cls(levels=payload["levels"], prior_strength=float(payload["prior_strength"]))
        model.classes_ = np.asarray(payload["classes"])
        model.global_rate_ = float(payload["global_rate"])
        model.tables_ = [dict(t) for t in payload["tables"]]
        model.n_features_in_ = len(payload["levels"] or [])
        return model


class RunRateClassifier(ClassifierMixin, BaseEstimator):
    """P(reach quota) from the run-rate projection attainment_to_date / elapsed_fraction.

    The projection is clipped to [`floor`, 10] and its logarithm fed to a
    one-feature logistic regression, so the probability rises with the
    projection. Columns are names for frames or indices for arrays.
    """

    def __init__(
        self,
        attainment_column: Hashable = "attainment_to_date",
        elapsed_column: Hashable = "elapsed_fraction",
        min_elapsed: float = 0.02,
        floor: float = 0.01,
    ) -> None:
        self.attainment_column = attainment_column
        self.elapsed_column = elapsed_column
        self.min_elapsed = min_elapsed
        self.floor = floor

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def projection(self, X: Any, reset: bool = False) -> np.ndarray:
        if isinstance(X, pd.DataFrame) and isinstance(self.attainment_column, str):
            for column in (self.attainment_column, self.elapsed_column):
                if column not in X.columns:
                    raise ValueError(f"run-rate baseline: feature frame has no column {column!r}")
            if reset:
                self.n_features_in_ = 2
            attained = X[self.attainment_column].to_numpy(dtype="float64")
            elapsed = X[self.elapsed_column].to_numpy(dtype="float64")
        else:
            array = validate_data(self, X, reset=reset, dtype="float64")
            needed = max(int(self.attainment_column), int(self.elapsed_column)) + 1  # type: ignore[call-overload]
            if array.shape[1] < needed:
                raise ValueError(
                    f"RunRateClassifier reads columns {self.attainment_column} and "
                    f"{self.elapsed_column}; got {array.shape[1]} feature(s)"
                )
            attained = array[:, int(self.attainment_column)]  # type: ignore[call-overload]
            elapsed = array[:, int(self.elapsed_column)]  # type: ignore[call-overload]
        projected = attained / np.maximum(elapsed, self.min_elapsed)
        return np.asarray(np.clip(projected, self.floor, 10.0), dtype="float64")

    def fit(self, X: Any, y: Any) -> RunRateClassifier:
        if not isinstance(X, pd.DataFrame):
            X, y = validate_data(self, X, y, dtype="float64")
        target = _binary_target(self, y)
        feature = np.log(self.projection(X, reset=not isinstance(X, np.ndarray)))
        model = LogisticRegression(C=1e4).fit(feature.reshape(-1, 1), target)
        self.slope_ = max(float(model.coef_[0, 0]), 0.0)
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "slope_")
        z = self.slope_ * np.log(self.projection(X)) + self.intercept_
        positive = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return np.asarray(self.classes_[positive.astype(int)])

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, "slope_")
        return {
            "kind": "run_rate",
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "slope": self.slope_,
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> RunRateClassifier:
        model = cls(**payload["params"])
        model.classes_ = np.asarray(payload["classes"])
        model.slope_ = float(payload["slope"])
        model.intercept_ = float(payload["intercept"])
        model.n_features_in_ = 2
        return model


def _bool_to_float(frame: pd.DataFrame) -> pd.DataFrame:
    from training.encoding import _as_bool_float

    return pd.DataFrame({c: _as_bool_float(frame[c], c) for c in frame.columns}, index=frame.index)


def _to_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype("string").fillna(MISSING_KEY).astype("object")


def logistic_baseline(spec: FeatureSpec, min_frequency: int = 10) -> Pipeline:
    """One-hot categories + standardised numbers → logistic regression."""
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    boolean = make_pipeline(
        FunctionTransformer(_bool_to_float, feature_names_out="one-to-one"),
        SimpleImputer(strategy="most_frequent"),
    )
    categorical = make_pipeline(
        FunctionTransformer(_to_text, feature_names_out="one-to-one"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency),
    )
    transformers = [
        (name, step, list(columns))
        for name, step, columns in (
            ("numeric", numeric, spec.numeric),
            ("boolean", boolean, spec.boolean),
            ("categorical", categorical, spec.categorical),
        )
        if columns
    ]
    return Pipeline(
        [
            ("encode", ColumnTransformer(transformers)),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    )


def save_json_baseline(model: HistoricalWinRateClassifier | RunRateClassifier, path: Path) -> Path:
    path = Path(path)
    staging = path.with_name(f".{path.name}.partial")
    staging.write_text(json.dumps(model.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    staging.replace(path)
    return path


def load_json_baseline(path: Path) -> HistoricalWinRateClassifier | RunRateClassifier:
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    if payload.get("kind") == "historical_win_rate":
        return HistoricalWinRateClassifier.from_dict(payload)
    if payload.get("kind") == "run_rate":
        return RunRateClassifier.from_dict(payload)
    raise ValueError(f"{path}: unknown baseline kind {payload.get('kind')!r}")


def save_skops_baseline(model: Pipeline, path: Path) -> Path:
    """Save an sklearn baseline with skops (a safe, non-pickle format)."""
    import skops.io as sio

    sio.dump(model, Path(path))
    return Path(path)


def load_skops_baseline(path: Path) -> Pipeline:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=Path(path))
    allowed = [t for t in untrusted if t.startswith(("training.baselines.", "sklearn.", "numpy."))]
    rejected = sorted(set(untrusted) - set(allowed))
    if rejected:
        raise ValueError(f"{path}: refuses to load unexpected types {rejected}")
    loaded: Pipeline = sio.load(Path(path), trusted=allowed)
    return loaded
