"""scikit-learn's estimator contract for every custom estimator in training/."""

from __future__ import annotations

from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from training.baselines import HistoricalWinRateClassifier, RunRateClassifier
from training.encoding import FrameEncoder
from training.pipelines import CalibratedLGBMClassifier

# Why each listed check cannot hold for these estimators:
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


def _expected(estimator: Any) -> dict[str, str]:
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [
        FrameEncoder(),
        CalibratedLGBMClassifier(n_estimators=10, min_child_samples=2, calibration_folds=2),
        HistoricalWinRateClassifier(),
        RunRateClassifier(attainment_column=0, elapsed_column=1),
    ],
    expected_failed_checks=_expected,
)
def test_sklearn_contract(estimator: Any, check: Any) -> None:
    check(estimator)
