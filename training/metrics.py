"""Evaluation of probability models: ranking, calibration, lift, per slice, plots.

Expected calibration error (ECE) binning: `n_bins` (default 10) equal-width
bins of the predicted probability over [0, 1]; bin k holds k/n <= p < (k+1)/n
(p = 1 falls in the last bin). ECE = sum over non-empty bins of
(rows in bin / all rows) * |mean outcome in bin - mean prediction in bin|.

Lift in the top decile: the outcome rate among the 10 % of rows with the
highest scores (ties broken by a stable sort on the original order) divided
by the overall outcome rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


@dataclass(frozen=True)
class BinaryMetrics:
    n: int
    positive_rate: float
    roc_auc: float
    pr_auc: float
    brier: float
    base_rate_brier: float  # Brier of always predicting the training base rate
    ece: float
    top_decile_lift: float

    @property
    def brier_skill_ratio(self) -> float:
        """Brier / base-rate Brier (lower is better; 1 = no better than the base rate)."""
        return self.brier / self.base_rate_brier if self.base_rate_brier > 0 else math.nan

    def to_dict(self) -> dict[str, float]:
        values: dict[str, float] = {k: float(v) for k, v in asdict(self).items()}
        values["brier_skill_ratio"] = self.brier_skill_ratio
        return values


def _as_arrays(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64").ravel()
    p = np.asarray(y_prob, dtype="float64").ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} outcomes but {p.size} predictions")
    if y.size == 0:
        raise ValueError("cannot evaluate an empty set")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0/1")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("predictions must be probabilities in [0, 1]")
    return y, p


def brier_score(y_true: Any, y_prob: Any) -> float:
    y, p = _as_arrays(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10) -> float:
    y, p = _as_arrays(y_true, y_prob)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for k in np.unique(bins):
        in_bin = bins == k
        total += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(total)


def top_fraction_lift(y_true: Any, y_prob: Any, fraction: float = 0.1) -> float:
    y, p = _as_arrays(y_true, y_prob)
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    base = y.mean()
    if base == 0:
        return math.nan
    top = max(1, math.ceil(fraction * y.size))
    order = np.argsort(-p, kind="stable")[:top]
    return float(y[order].mean() / base)


def _safe_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    if np.unique(y).size < 2:
        return math.nan, math.nan
    return float(roc_auc_score(y, p)), float(average_precision_score(y, p))


def evaluate_binary(
    y_true: Any, y_prob: Any, reference_rate: float | None = None, n_bins: int = 10
) -> BinaryMetrics:
    """All headline metrics; `reference_rate` is the training base rate for the reference Brier."""
    y, p = _as_arrays(y_true, y_prob)
    rate = float(y.mean()) if reference_rate is None else float(reference_rate)
    roc, pr = _safe_auc(y, p)
    return BinaryMetrics(
        n=int(y.size),
        positive_rate=float(y.mean()),
        roc_auc=roc,
        pr_auc=pr,
        brier=brier_score(y, p),
        base_rate_brier=float(np.mean((rate - y) ** 2)),
        ece=expected_calibration_error(y, p, n_bins),
        top_decile_lift=top_fraction_lift(y, p, 0.1),
    )


def evaluate_slices(
    y_true: Any,
    y_prob: Any,
    slices: pd.Series,
    min_rows: int = 30,
    reference_rate: float | None = None,
) -> pd.DataFrame:
    """The same metrics per value of `slices` (values with fewer than `min_rows` rows pooled as 'other')."""
    y, p = _as_arrays(y_true, y_prob)
    labels = slices.astype("string").fillna("(missing)").to_numpy()
    counts = pd.Series(labels).value_counts()
    small = set(counts[counts < min_rows].index)
    labels = np.asarray(["(other)" if v in small else v for v in labels], dtype=object)
    rows = []
    for value in sorted(set(labels)):
        in_slice = labels == value
        metrics = evaluate_binary(y[in_slice], p[in_slice], reference_rate)
        rows.append({"slice": value, **metrics.to_dict()})
    return pd.DataFrame(rows).set_index("slice")


def calibration_table(y_true: Any, y_prob: Any, n_bins: int = 10) -> pd.DataFrame:
    y, p = _as_arrays(y_true, y_prob)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "y": y, "p": p})
    table = frame.groupby("bin").agg(
        rows=("y", "size"), observed=("y", "mean"), predicted=("p", "mean")
    )
    return table


def lift_table(y_true: Any, y_prob: Any, groups: int = 10) -> pd.DataFrame:
    """Outcome rate and lift per score decile (1 = highest scores)."""
    y, p = _as_arrays(y_true, y_prob)
    order = np.argsort(-p, kind="stable")
    decile = np.empty(y.size, dtype=int)
    decile[order] = np.arange(y.size) * groups // y.size + 1
    frame = pd.DataFrame({"decile": decile, "y": y})
    table = frame.groupby("decile").agg(rows=("y", "size"), rate=("y", "mean"))
    base = y.mean()
    table["lift"] = table["rate"] / base if base > 0 else math.nan
    table["cumulative_capture"] = (
        frame.groupby("decile")["y"].sum().cumsum() / y.sum() if y.sum() > 0 else math.nan
    )
    return table


def plot_calibration(
    y_true: Any, predictions: Mapping[str, Any], path: Path, title: str, n_bins: int = 10
) -> Path:
    """Reliability diagram of one or more models (e.g. model and baseline) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, y_prob in predictions.items():
        table = calibration_table(y_true, y_prob, n_bins)
        axis.plot(table["predicted"], table["observed"], marker="o", label=name)
    axis.set_xlabel("predicted probability")
    axis.set_ylabel("observed rate")
    axis.set_title(title, fontsize="small")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(loc="upper left", fontsize="small")
    return _save(figure, path)


def plot_lift(y_true: Any, predictions: Mapping[str, Any], path: Path, title: str) -> Path:
    """Lift per score decile of one or more models as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(1, len(predictions))
    for i, (name, y_prob) in enumerate(predictions.items()):
        table = lift_table(y_true, y_prob)
        axis.bar(table.index + i * width - 0.4 + width / 2, table["lift"], width=width, label=name)
    axis.axhline(1.0, color="grey", linestyle="--")
    axis.set_xlabel("score decile (1 = highest)")
    axis.set_ylabel("lift")
    axis.set_title(title, fontsize="small")
    axis.set_xticks(range(1, 11))
    axis.legend()
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    from matplotlib import pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
