"""LightGBM in a scikit-learn pipeline, with calibrated probabilities.

`CalibratedLGBMClassifier` trains a native LightGBM booster and a calibrator
fitted on out-of-fold scores (cross-fitting, as scikit-learn's
`CalibratedClassifierCV(ensemble=False)` does), so the calibrator never sees
scores of rows the booster was trained on. The booster is stored as
LightGBM's own model text and the calibrator as JSON: nothing is pickled.

`build_pipeline(spec, ...)` wires `FrameEncoder` + this classifier;
`save_pipeline` / `load_pipeline` write and read a directory of
`encoder.json`, `model.txt`, `calibrator.json`, `manifest.json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from training.encoding import FeatureSpec, FrameEncoder

log = logging.getLogger(__name__)

CALIBRATION_METHODS = ("isotonic", "sigmoid", "none")
FORMAT_VERSION = 1


class ScoreCalibrator:
    """Maps a raw LightGBM score (log-odds) to a probability; JSON round-trips."""

    def __init__(self, method: str, payload: Mapping[str, Any] | None = None) -> None:
        if method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration must be one of {CALIBRATION_METHODS}, got {method!r}")
        self.method = method
        self.payload: dict[str, Any] = dict(payload or {})

    @classmethod
    def fit(cls, method: str, raw_scores: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        if method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_scores, y)
            return cls(
                method,
                {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()},
            )
        if method == "sigmoid":
            slope, intercept = _fit_platt(raw_scores, y)
            return cls(method, {"slope": slope, "intercept": intercept})
        return cls("none")

    def predict(self, raw_scores: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            x = np.asarray(self.payload["x"], dtype="float64")
            y = np.asarray(self.payload["y"], dtype="float64")
            return np.interp(raw_scores, x, y)
        if self.method == "sigmoid":
            z = self.payload["slope"] * raw_scores + self.payload["intercept"]
        else:
            z = raw_scores
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **self.payload}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ScoreCalibrator:
        rest = {k: v for k, v in payload.items() if k != "method"}
        return cls(str(payload["method"]), rest)


def _fit_platt(raw_scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: a positive slope keeps the ranking (and monotonicity)."""
    from sklearn.linear_model import LogisticRegression

    if np.unique(y).size < 2:
        return 1.0, 0.0
    model = LogisticRegression(C=1e4).fit(raw_scores.reshape(-1, 1), y)
    slope = max(float(model.coef_[0, 0]), 1e-6)
    return slope, float(model.intercept_[0])


class CalibratedLGBMClassifier(ClassifierMixin, BaseEstimator):
    """Binary LightGBM classifier with cross-fitted probability calibration.

    Parameters mirror LightGBM's; `categorical_features` are column indices,
    `monotone_constraints` one of -1/0/+1 per column. `n_jobs` defaults to 1
    because the training machine is shared.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        cat_smooth: float = 10.0,
        categorical_features: Sequence[int] | None = None,
        monotone_constraints: Sequence[int] | None = None,
        calibration: str = "sigmoid",
        calibration_folds: int = 5,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.cat_smooth = cat_smooth
        self.categorical_features = categorical_features
        self.monotone_constraints = monotone_constraints
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def _booster_params(self, n_features: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": max(1, self.min_child_samples),
            "seed": self.random_state,
            "deterministic": True,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }
        if self.monotone_constraints is not None:
            constraints = list(self.monotone_constraints)
            if len(constraints) != n_features:
                raise ValueError(
                    f"monotone_constraints has {len(constraints)} entries for {n_features} features"
                )
            params["monotone_constraints"] = constraints
            params["monotone_constraints_method"] = "advanced"
        return params

    def _train_booster(self, X: np.ndarray, y: np.ndarray) -> lgb.Booster:
        data = lgb.Dataset(
            X,
            label=y,
            categorical_feature=list(self.categorical_features or []) or "auto",
            free_raw_data=True,
            params={"verbosity": -1},
        )
        return lgb.train(self._booster_params(X.shape[1]), data, num_boost_round=self.n_estimators)

    def fit(self, X: Any, y: Any) -> CalibratedLGBMClassifier:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype="float64")
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration must be one of {CALIBRATION_METHODS}, got {self.calibration!r}"
            )
        self.classes_, target = binary_target(self, y)
        self.booster_ = self._train_booster(X, target)
        self.calibrator_ = self._fit_calibrator(X, target)
        return self

    def _fit_calibrator(self, X: np.ndarray, target: np.ndarray) -> ScoreCalibrator:
        minority = int(min(target.sum(), target.size - target.sum()))
        folds = min(self.calibration_folds, minority)
        if self.calibration == "none" or folds < 2:
            return ScoreCalibrator("none")
        out_of_fold = np.empty_like(target)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for fit_rows, held_rows in splitter.split(X, target):
            booster = self._train_booster(X[fit_rows], target[fit_rows])
            out_of_fold[held_rows] = booster.predict(X[held_rows], raw_score=True)
        return ScoreCalibrator.fit(self.calibration, out_of_fold, target)

    def raw_score(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype="float64")
        return np.asarray(self.booster_.predict(X, raw_score=True), dtype="float64")

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "calibrator_")
        positive = np.clip(self.calibrator_.predict(self.raw_score(X)), 0.0, 1.0)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return np.asarray(self.classes_[positive.astype(int)])

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature contributions to the raw score (last column: the bias)."""
        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype="float64")
        return np.asarray(self.booster_.predict(X, pred_contrib=True), dtype="float64")

    def to_files(self) -> dict[str, str]:
        """`model.txt` (LightGBM native text) and `calibrator.json` contents."""
        check_is_fitted(self, "booster_")
        meta = {
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "calibrator": self.calibrator_.to_dict(),
            "n_features_in": int(self.n_features_in_),
        }
        return {
            "model.txt": self.booster_.model_to_string(),
            "calibrator.json": json.dumps(meta, indent=2, sort_keys=True, default=_json_default),
        }

    @classmethod
    def from_files(cls, model_text: str, calibrator_json: str) -> CalibratedLGBMClassifier:
        meta = json.loads(calibrator_json)
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_str=model_text)
        model.calibrator_ = ScoreCalibrator.from_dict(meta["calibrator"])
        model.classes_ = np.asarray(meta["classes"])
        model.n_features_in_ = int(meta["n_features_in"])
        return model


def binary_target(estimator: BaseEstimator, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(classes, 0/1 float target) or the error scikit-learn's contract expects."""
    check_classification_targets(y)
    classes = np.unique(y)
    if type_of_target(y) == "multiclass" or classes.size > 2:
        raise ValueError(
            f"Only binary classification is supported; {type(estimator).__name__} "
            f"got {classes.size} classes"
        )
    if classes.size < 2:
        raise ValueError(f"{type(estimator).__name__} needs two classes in y, got 1 class")
    return classes, (np.asarray(y) == classes[1]).astype("float64")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def build_pipeline(
    spec: FeatureSpec,
    params: Mapping[str, Any] | None = None,
    min_category_count: int = 10,
) -> Pipeline:
    """FrameEncoder(spec) → CalibratedLGBMClassifier with the spec's constraints."""
    classifier = CalibratedLGBMClassifier(
        categorical_features=spec.categorical_indices,
        monotone_constraints=spec.monotone_constraints if spec.increasing else None,
        **dict(params or {}),
    )
    return Pipeline(
        [
            ("encode", FrameEncoder.from_spec(spec, min_category_count=min_category_count)),
            ("model", classifier),
        ]
    )


def save_pipeline(
    pipeline: Pipeline,
    directory: Path,
    metadata: Mapping[str, Any] | None = None,
    phrases: Mapping[str, Any] | None = None,
) -> Path:
    """Write the fitted pipeline as native model text + JSON; no pickle anywhere.

    `phrases` (feature → `training.explain.BusinessPhrase`) are saved as
    `phrases.json` for the features the model reads, so serving explains
    scores in business language without importing `training`.
    Files are written to a sibling temporary directory and renamed into place,
    so a failure leaves nothing half-written.
    """
    encoder, model = _parts(pipeline)
    used = set(encoder.feature_names_out_)
    files = {
        "phrases.json": json.dumps(
            {
                name: {"high": p.high, "low": p.low, "label": p.label}
                for name, p in (phrases or {}).items()
                if name in used
            },
            indent=2,
            sort_keys=True,
        ),
        "encoder.json": json.dumps(encoder.to_dict(), indent=2, sort_keys=True),
        **model.to_files(),
        "manifest.json": json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "lightgbm_version": lgb.__version__,
                "metadata": dict(metadata or {}),
            },
            indent=2,
            sort_keys=True,
            default=_json_default,
        ),
    }
    directory = Path(directory)
    if directory.exists():
        raise FileExistsError(f"model directory {directory} already exists")
    staging = directory.with_name(f".{directory.name}.partial")
    staging.mkdir(parents=True, exist_ok=False)
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        staging.rename(directory)
    except BaseException:
        for leftover in staging.iterdir():
            leftover.unlink()
        staging.rmdir()
        raise
    log.info("saved pipeline to %s", directory)
    return directory


def load_pipeline(directory: Path) -> Pipeline:
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / 'manifest.json'}: format_version {manifest.get('format_version')!r} "
            f"is not {FORMAT_VERSION}"
        )
    encoder = FrameEncoder.from_dict(
        json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
    )
    model = CalibratedLGBMClassifier.from_files(
        (directory / "model.txt").read_text(encoding="utf-8"),
        (directory / "calibrator.json").read_text(encoding="utf-8"),
    )
    return Pipeline([("encode", encoder), ("model", model)])


def _parts(pipeline: Pipeline) -> tuple[FrameEncoder, CalibratedLGBMClassifier]:
    encoder = pipeline.named_steps.get("encode")
    model = pipeline.named_steps.get("model")
    if not isinstance(encoder, FrameEncoder) or not isinstance(model, CalibratedLGBMClassifier):
        raise TypeError("expected a pipeline of FrameEncoder ('encode') + CalibratedLGBMClassifier")
    return encoder, model


def predict_positive(pipeline: Pipeline, frame: Any) -> np.ndarray:
    """Calibrated probability of the positive class."""
    return np.asarray(pipeline.predict_proba(frame)[:, 1], dtype="float64")


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


__all__ = [
    "CalibratedLGBMClassifier",
    "ScoreCalibrator",
    "build_pipeline",
    "load_pipeline",
    "logit",
    "predict_positive",
    "save_pipeline",
]
