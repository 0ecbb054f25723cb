"""Load a registered model's artifact directory natively and predict with it.

The artifact contract (written by training, read here; see docs/serving.md):
a directory holding

- `manifest.json`: `{"format_version": 1, "lightgbm_version": ..., "metadata": {...}}`
- `encoder.json`: the feature encoder, `numeric`, `boolean`, `categorical` column
  lists, `categories` (vocabulary per categorical column, code = index, unknown
  or rare = len(vocabulary)), `medians` (per numeric/boolean column), optional
  `missing_values` (category texts meaning "not given", compared case-insensitively)
- `model.txt`: LightGBM's native model text (input columns in encoder order)
- `calibrator.json`: `{"calibrator": {"method": "isotonic"|"sigmoid"|"none", ...}}`
- optional `phrases.json`: `{feature: {"high": ..., "low": ..., "label": ...}}`

In the MLflow registry this directory is `artifacts/pipeline/` of the
version's logged model. Nothing is unpickled: LightGBM reads its own text and
the rest is JSON. Serving does not import `training`, so the encoding rules
are restated here; a unit test checks they give training's probabilities.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
REQUIRED_FILES = ("manifest.json", "encoder.json", "model.txt", "calibrator.json")
_NUMBERS = (int, float, np.integer, np.floating)
_FLOATS = (float, np.floating)
_YES_NO = {"yes": 1.0, "true": 1.0, "1": 1.0, "no": 0.0, "false": 0.0, "0": 0.0}


class ArtifactError(ValueError):
    """An artifact directory that does not follow the contract; names the file."""


@dataclass(frozen=True)
class Factor:
    """One reason behind a prediction, in business language."""

    feature: str
    phrase: str
    contribution: float  # log-odds pushed by this feature


@dataclass(frozen=True)
class Phrase:
    high: str = ""
    low: str = ""
    label: str = ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise ArtifactError(f"{path}: must hold a JSON object")
    return loaded


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (
            isinstance(value, float) and value != value  # NaN
        )
    )


class Calibrator:
    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.method = str(payload.get("method", "none"))
        if self.method not in ("isotonic", "sigmoid", "none"):
            raise ArtifactError(f"calibrator method {self.method!r} is unknown")
        self.payload = dict(payload)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            x = np.asarray(self.payload["x"], dtype="float64")
            y = np.asarray(self.payload["y"], dtype="float64")
            result = np.interp(raw, x, y)
        else:
            z = raw
            if self.method == "sigmoid":
                z = float(self.payload["slope"]) * raw + float(self.payload["intercept"])
            result = 1.0 / (1.0 + np.exp(-z))
        return np.asarray(np.clip(result, 0.0, 1.0), dtype="float64")


class NativePipeline:
    """Encoder + LightGBM booster + calibrator, read from an artifact directory."""

    def __init__(self, directory: Path) -> None:
        import lightgbm as lgb

        directory = Path(directory)
        missing = [f for f in REQUIRED_FILES if not (directory / f).is_file()]
        if missing:
            raise ArtifactError(f"model directory {directory}: missing {', '.join(missing)}")
        manifest = _read_json(directory / "manifest.json")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{directory / 'manifest.json'}: format_version "
                f"{manifest.get('format_version')!r} is not {FORMAT_VERSION}"
            )
        self.directory = directory
        self.metadata: dict[str, Any] = dict(manifest.get("metadata") or {})
        encoder = _read_json(directory / "encoder.json")
        self.numeric: tuple[str, ...] = tuple(encoder["numeric"])
        self.boolean: tuple[str, ...] = tuple(encoder["boolean"])
        self.categorical: tuple[str, ...] = tuple(encoder["categorical"])
        self.categories: dict[str, list[str]] = {
            k: [str(v) for v in vs] for k, vs in encoder["categories"].items()
        }
        self._codes = {
            c: {v: float(i) for i, v in enumerate(vs)} for c, vs in self.categories.items()
        }
        self.medians: dict[str, float] = {k: float(v) for k, v in encoder["medians"].items()}
        # category values the source uses for "not answered" (e.g. a form's "Select")
        self.missing_values = frozenset(str(v).lower() for v in encoder.get("missing_values", []))
        self.columns: tuple[str, ...] = (*self.numeric, *self.boolean, *self.categorical)
        self.booster = lgb.Booster(model_file=str(directory / "model.txt"))
        if self.booster.num_feature() != len(self.columns):
            raise ArtifactError(
                f"{directory / 'model.txt'}: {self.booster.num_feature()} inputs, "
                f"encoder.json lists {len(self.columns)}"
            )
        meta = _read_json(directory / "calibrator.json")
        self.calibrator = Calibrator(meta.get("calibrator") or {"method": "none"})
        phrases_path = directory / "phrases.json"
        raw_phrases = _read_json(phrases_path) if phrases_path.is_file() else {}
        self.phrases = {k: Phrase(**dict(v)) for k, v in raw_phrases.items()}

    # ------------------------------------------------------------------ encoding

    # Plain Python per value: requests carry up to 1,000 rows, where pandas' string
    # machinery costs milliseconds per column; the rules are training's FrameEncoder's.
    def _category_code(self, column: str, value: Any) -> float:
        if _missing(value):
            return float("nan")
        text = str(value).strip()
        if not text or text.lower() in self.missing_values:
            return float("nan")
        return self._codes[column].get(text, float(len(self.categories[column])))

    def _yes_no(self, column: str, row: int, value: Any, textual: bool) -> float:
        if _missing(value):
            return float("nan")
        if not textual:
            return float(value)
        text = str(value).strip().lower()
        if not text:
            return float("nan")
        if text not in _YES_NO:
            raise ValueError(f"feature {column!r} row {row}: {value!r} is not yes/no")
        return _YES_NO[text]

    @staticmethod
    def _number(column: str, row: int, value: Any) -> float:
        if _missing(value):
            return float("nan")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"feature {column!r} row {row}: {value!r} is not a number") from None

    def _encoded(self, column: str, values: list[Any], textual: bool) -> np.ndarray:
        if column in self.categorical:
            encoded = [self._category_code(column, v) for v in values]
        elif column in self.boolean:
            encoded = [self._yes_no(column, i, v, textual) for i, v in enumerate(values)]
        else:
            encoded = [self._number(column, i, v) for i, v in enumerate(values)]
        return np.asarray(encoded, dtype="float64")

    def _column(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        if column not in frame.columns:  # a feature the store does not have: missing
            return np.full(len(frame), np.nan)
        series = frame[column]
        # as training: a numeric or bool column is taken as 0/1, anything else as text
        textual = column in self.boolean and not (
            pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)
        )
        return self._encoded(column, series.tolist(), textual)

    def _rows_column(self, rows: Sequence[Mapping[str, Any]], column: str) -> np.ndarray:
        """`_column` of `pd.DataFrame(rows)` without building the frame: pandas' dtype
        rules restated for one column of Python values."""
        values = [row.get(column) for row in rows]
        given = [v for v in values if not _missing(v)]
        numeric = all(isinstance(v, _NUMBERS) and not isinstance(v, bool) for v in given)
        if (
            numeric
            and given
            and (len(given) < len(values) or any(isinstance(v, _FLOATS) for v in given))
        ):
            # pandas makes such a column float64 (NaN for the missing): 3 reads as 3.0
            values = [None if _missing(v) else float(v) for v in values]
        textual = column in self.boolean and not (
            numeric or all(isinstance(v, bool | np.bool_) for v in given)
        )
        return self._encoded(column, values, textual)

    def encode(self, frame: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The model's inputs for a frame, or for feature rows as dicts (serving's path:
        no frame is built per request; the values are those of `pd.DataFrame(rows)`)."""
        if not self.columns:
            return np.empty((len(frame), 0))
        if isinstance(frame, pd.DataFrame):
            return np.column_stack([self._column(frame, c) for c in self.columns])
        return np.column_stack([self._rows_column(frame, c) for c in self.columns])

    # ------------------------------------------------------------------ prediction

    def probabilities(self, encoded: np.ndarray) -> np.ndarray:
        # One thread: requests carry few rows, and OpenMP start-up costs more than it saves.
        raw = np.asarray(
            self.booster.predict(encoded, raw_score=True, num_threads=1), dtype="float64"
        )
        return self.calibrator.probability(raw)

    def predict_proba(self, frame: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.probabilities(self.encode(frame))

    def _describe(self, feature: str, value: float) -> str:
        phrase = self.phrases.get(feature, Phrase())
        label = phrase.label or feature.replace("_", " ").capitalize()
        if feature in self.categorical:
            if not np.isfinite(value):
                return f"{label}: not given"
            vocabulary = self.categories[feature]
            index = int(value)
            return f"{label}: {vocabulary[index] if index < len(vocabulary) else 'other'}"
        if not np.isfinite(value):
            return f"{label}: not given"
        if feature in self.boolean:
            return (
                phrase.high if value >= 0.5 else phrase.low
            ) or f"{label}: {'yes' if value >= 0.5 else 'no'}"
        median = self.medians.get(feature, float("nan"))
        is_high = value > median if np.isfinite(median) else value > 0
        return (phrase.high if is_high else phrase.low) or f"{label} {'high' if is_high else 'low'}"

    def explain(
        self,
        frame: pd.DataFrame | Sequence[Mapping[str, Any]],
        top_k: int = 3,
        min_abs_contribution: float = 0.01,
    ) -> list[tuple[float, list[Factor], list[Factor]]]:
        """(probability, top positive factors, top negative factors) per row, strongest first."""
        encoded = self.encode(frame)
        probabilities = self.probabilities(encoded).tolist()
        pushes = np.asarray(
            self.booster.predict(encoded, pred_contrib=True, num_threads=1), dtype="float64"
        )[:, :-1]  # the last column is the bias
        # One argsort over the whole matrix; only the chosen features are described.
        orders = np.argsort(-np.abs(pushes), axis=1, kind="stable").tolist()
        results = []
        for row, (order, contributions) in enumerate(zip(orders, pushes.tolist(), strict=True)):
            positive: list[Factor] = []
            negative: list[Factor] = []
            for j in order:
                push = contributions[j]
                if abs(push) < min_abs_contribution:
                    break
                bucket = positive if push > 0 else negative
                if len(bucket) < top_k:
                    name = self.columns[j]
                    bucket.append(Factor(name, self._describe(name, encoded[row, j]), push))
                elif len(positive) == len(negative) == top_k:
                    break
            results.append((probabilities[row], positive, negative))
        return results


@dataclass
class LoadedModel:
    """A `ServedModel`: one registered version, loaded natively."""

    name: str
    version: str
    source: str
    feature_service: str
    pipeline: NativePipeline

    def predict(self, features: Any) -> Any:
        return self.pipeline.predict_proba(features)

    @property
    def input_columns(self) -> Sequence[str]:
        return self.pipeline.columns
