"""Turn a canonical-shaped feature frame into the numeric matrix LightGBM reads.

`FeatureSpec` is the documented feature list of a model (which columns, what
kind, which must act monotonically). `FrameEncoder` is the scikit-learn
transformer that applies it; everything it learns is plain JSON (category
vocabularies, medians), so a fitted encoder is saved without pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

OTHER_CATEGORY = "__other__"


@dataclass(frozen=True)
class FeatureSpec:
    """The documented feature list of one model.

    Encoded column order is numeric, then boolean, then categorical.
    `increasing` names numeric features whose effect must never be negative
    (LightGBM monotone constraint +1).
    """

    numeric: tuple[str, ...] = ()
    boolean: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    increasing: tuple[str, ...] = ()
    excluded: Mapping[str, str] = field(default_factory=dict)  # column -> why it is not used
    # category texts that mean "not given" (compared case-insensitively), e.g. "Select"
    missing_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError(f"feature spec lists a column twice: {names}")
        stray = set(self.increasing) - set(self.numeric)
        if stray:
            raise ValueError(f"monotone features must be numeric features: {sorted(stray)}")

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.numeric, *self.boolean, *self.categorical)

    @property
    def categorical_indices(self) -> list[int]:
        start = len(self.numeric) + len(self.boolean)
        return list(range(start, start + len(self.categorical)))

    @property
    def monotone_constraints(self) -> list[int]:
        return [1 if name in self.increasing else 0 for name in self.names]

    def with_features(self, **extra: tuple[str, ...]) -> FeatureSpec:
        """A copy with more columns of each kind (used for ablations)."""
        return FeatureSpec(
            numeric=(*self.numeric, *extra.get("numeric", ())),
            boolean=(*self.boolean, *extra.get("boolean", ())),
            categorical=(*self.categorical, *extra.get("categorical", ())),
            increasing=self.increasing,
            excluded={k: v for k, v in self.excluded.items() if k not in _flatten(extra)},
            missing_values=self.missing_values,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "boolean": list(self.boolean),
            "categorical": list(self.categorical),
            "increasing": list(self.increasing),
            "excluded": dict(self.excluded),
            "missing_values": list(self.missing_values),
        }


def _flatten(extra: Mapping[str, tuple[str, ...]]) -> set[str]:
    return {name for names in extra.values() for name in names}


def _as_text(values: pd.Series, missing_values: Sequence[str] = ()) -> pd.Series:
    """Category values as stripped text; blanks and `missing_values` are missing."""
    text = values.astype("string").str.strip()
    blank = text == ""
    if missing_values:
        blank |= text.str.lower().isin([v.lower() for v in missing_values])
    return text.mask(blank)


def _as_float(values: pd.Series, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(values.astype("object"), errors="raise").astype("float64").to_numpy()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"feature column {column!r} is not numeric: {exc}") from exc


def _as_bool_float(values: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    text = _as_text(values).str.lower()
    mapped = text.map({"yes": 1.0, "true": 1.0, "1": 1.0, "no": 0.0, "false": 0.0, "0": 0.0})
    bad = text.notna() & mapped.isna()
    if bad.any():
        row = values.index[bad.to_numpy()][0]
        raise ValueError(
            f"feature column {column!r} row {row}: {values.loc[row]!r} is not a yes/no value"
        )
    return mapped.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


class FrameEncoder(TransformerMixin, BaseEstimator):
    """Encode a feature frame: numbers as floats, yes/no as 0/1, categories as codes.

    Categories seen fewer than `min_category_count` times in training, and
    categories never seen, share one "other" code; missing stays NaN (LightGBM
    routes it on its own). With no spec at all, every input column is numeric,
    which is what scikit-learn's contract checks exercise.
    """

    def __init__(
        self,
        numeric: Sequence[str] | None = None,
        boolean: Sequence[str] = (),
        categorical: Sequence[str] = (),
        min_category_count: int = 10,
        missing_values: Sequence[str] = (),
    ) -> None:
        self.numeric = numeric
        self.boolean = boolean
        self.categorical = categorical
        self.min_category_count = min_category_count
        self.missing_values = missing_values

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    @classmethod
    def from_spec(cls, spec: FeatureSpec, min_category_count: int = 10) -> FrameEncoder:
        return cls(
            numeric=list(spec.numeric),
            boolean=list(spec.boolean),
            categorical=list(spec.categorical),
            min_category_count=min_category_count,
            missing_values=list(spec.missing_values),
        )

    def _uses_spec(self) -> bool:
        return self.numeric is not None

    def _require_columns(self, frame: Any) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("FrameEncoder with a feature spec needs a pandas DataFrame")
        wanted = [*(self.numeric or ()), *self.boolean, *self.categorical]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise ValueError(f"feature frame is missing columns {missing}")
        return frame

    def fit(self, X: Any, y: Any = None) -> FrameEncoder:
        if not self._uses_spec():
            validate_data(self, X, ensure_all_finite="allow-nan")
            self.categories_: dict[str, list[str]] = {}
            self.medians_: dict[str, float] = {}
            return self
        frame = self._require_columns(X)
        self.categories_ = {}
        for column in self.categorical:
            counts = _as_text(frame[column], self.missing_values).value_counts()
            kept = counts[counts >= self.min_category_count].index
            self.categories_[column] = sorted(str(v) for v in kept)
        self.medians_ = {}
        for column in [*(self.numeric or ()), *self.boolean]:
            encoded = self._encode_column(frame, column)
            finite = encoded[np.isfinite(encoded)]
            self.medians_[column] = float(np.median(finite)) if finite.size else float("nan")
        self.feature_names_out_ = [*(self.numeric or ()), *self.boolean, *self.categorical]
        self.n_features_in_ = len(self.feature_names_out_)
        return self

    def _encode_column(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        if column in self.boolean:
            return _as_bool_float(frame[column], column)
        if column in self.categorical:
            vocabulary = self.categories_[column]
            codes = {value: float(i) for i, value in enumerate(vocabulary)}
            text = _as_text(frame[column], self.missing_values)
            other = float(len(vocabulary))
            encoded = text.map(lambda v: codes.get(v, other) if isinstance(v, str) else np.nan)
            return encoded.astype("float64").to_numpy()
        return _as_float(frame[column], column)

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "categories_")
        if not self._uses_spec():
            result: np.ndarray = validate_data(
                self, X, reset=False, ensure_all_finite="allow-nan", dtype="float64"
            )
            return result
        frame = self._require_columns(X)
        columns = [self._encode_column(frame, c) for c in self.feature_names_out_]
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "categories_")
        if self._uses_spec():
            return np.asarray(self.feature_names_out_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def category_label(self, column: str, code: float) -> str | None:
        """The category text behind an encoded value (None when missing)."""
        if not np.isfinite(code):
            return None
        vocabulary = self.categories_[column]
        index = int(code)
        return vocabulary[index] if index < len(vocabulary) else "other"

    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self, "categories_")
        if not self._uses_spec():
            raise ValueError("only an encoder built from a feature spec can be saved")
        return {
            "numeric": list(self.numeric or ()),
            "boolean": list(self.boolean),
            "categorical": list(self.categorical),
            "min_category_count": self.min_category_count,
            "missing_values": list(self.missing_values),
            "categories": self.categories_,
            "medians": self.medians_,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> FrameEncoder:
        encoder = cls(
            numeric=list(payload["numeric"]),
            boolean=list(payload["boolean"]),
            categorical=list(payload["categorical"]),
            min_category_count=int(payload["min_category_count"]),
            missing_values=list(payload.get("missing_values", [])),
        )
        encoder.categories_ = {k: list(v) for k, v in payload["categories"].items()}
        encoder.medians_ = {k: float(v) for k, v in payload["medians"].items()}
        encoder.feature_names_out_ = [*encoder.numeric, *encoder.boolean, *encoder.categorical]  # type: ignore[misc]
        encoder.n_features_in_ = len(encoder.feature_names_out_)
        return encoder
