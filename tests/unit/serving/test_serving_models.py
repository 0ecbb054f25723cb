"""Model endpoints at method depth: the native loader against training's own
pipeline, the score/tier arithmetic, and `serving.scoring.score` with a tiny
LightGBM model trained here and a hand-written feature provider."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _serving_models import deal_frame, save_tiny_model, train_tiny_pipeline
from _serving_support import serving_settings

from serving.adapters.mlflow_models import DirectoryModelProvider
from serving.adapters.native_model import ArtifactError, NativePipeline
from serving.bootstrap import build_runtime
from serving.errors import ForbiddenError, InvalidRequestError, NotFoundError
from serving.scoring import TARGETS, score, score_of, tier_of
from serving.security import Principal, Role


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "deal_risk")


def _odd_rows() -> pd.DataFrame:
    """Rows training never saw: an unknown category, missing values, text numbers."""
    return pd.DataFrame(
        {
            "stage_index": [4.0, None, "2"],
            "age_days": [3.0, 200.0, None],
            "product_list_price_minor": [50000.0, None, 10000.0],
            "lead_source": ["referral", "trade show", None],
            "product_id": ["p2", "p1", ""],
        }
    )


def test_native_pipeline_gives_trainings_probabilities(model_dir: Path) -> None:
    from training.pipelines import load_pipeline

    trained = load_pipeline(model_dir)
    native = NativePipeline(model_dir)
    for frame in (deal_frame(rows=50, seed=7)[0], _odd_rows()):
        expected = trained.predict_proba(frame)[:, 1]
        np.testing.assert_allclose(native.predict_proba(frame), expected, rtol=0, atol=1e-12)


COLUMN_CASES = [
    [1, None, 3],  # ints with a gap: pandas reads floats (3 -> "3.0" as a category)
    [1, 2, 3],
    [1.5, 2, None],
    [True, False, None],
    [True, False, True],
    ["yes", "No", None],
    [1, "yes", None],
    ["3", 3, 3.0],
    [None, None, None],
    [float("nan"), 2.0, None],
    [np.int64(3), np.float64(2.0), None],
    ["true", " ", "0"],
]


@pytest.mark.parametrize("values", COLUMN_CASES)
def test_rows_encode_as_their_frame(model_dir: Path, values: list[Any]) -> None:
    """Serving encodes feature rows (dicts) without building a frame: the same values
    as `pd.DataFrame(rows)` for every column kind, dtype rules included."""
    native = NativePipeline(model_dir)
    native.boolean = ("flag",)
    native.categorical = (*native.categorical, "code", "flag_text")
    native.categories = {**native.categories, "code": ["1", "3.0", "3"], "flag_text": ["yes"]}
    native._codes = {
        c: {v: float(i) for i, v in enumerate(vs)} for c, vs in native.categories.items()
    }
    rows = [{"flag": v, "code": v, "flag_text": v, "stage_index": v} for v in values]
    frame = pd.DataFrame(rows)
    for column in ("flag", "code", "flag_text", "stage_index"):
        try:
            expected = native._column(frame, column)
        except ValueError as exc:  # the same error from both paths
            with pytest.raises(ValueError, match=str(exc).split(":")[0]):
                native._rows_column(rows, column)
            continue
        np.testing.assert_array_equal(native._rows_column(rows, column), expected)


def test_explain_on_rows_equals_explain_on_the_frame(model_dir: Path) -> None:
    native = NativePipeline(model_dir)
    for frame in (deal_frame(rows=30, seed=5)[0], _odd_rows()):
        rows = frame.to_dict("records")
        assert native.explain(rows) == native.explain(frame)
        np.testing.assert_array_equal(native.encode(rows), native.encode(frame))


def test_factors_match_trainings_explanations(model_dir: Path) -> None:
    from training.explain import explain_predictions
    from training.pipelines import load_pipeline

    frame = deal_frame(rows=20, seed=3)[0]
    expected = explain_predictions(load_pipeline(model_dir), frame, phrases={})
    got = NativePipeline(model_dir).explain(frame)
    for theirs, (probability, positive, negative) in zip(expected, got, strict=True):
        assert probability == pytest.approx(theirs.probability, abs=1e-12)
        assert [f.feature for f in positive] == [r.feature for r in theirs.positive]
        assert [f.feature for f in negative] == [r.feature for r in theirs.negative]
        assert [f.contribution for f in positive] == pytest.approx(
            [r.contribution for r in theirs.positive]
        )


def test_business_phrases_come_from_phrases_json(tmp_path: Path) -> None:
    directory = save_tiny_model(tmp_path / "m")
    (directory / "phrases.json").write_text(
        json.dumps({"stage_index": {"high": "Late stage", "low": "Early stage"}})
    )
    native = NativePipeline(directory)
    frame = pd.DataFrame({"stage_index": [4.0, 0.0], "lead_source": ["web", None]})
    assert native._describe("stage_index", 4.0) == "Late stage"
    assert native._describe("stage_index", 0.0) == "Early stage"
    assert native._describe("lead_source", float("nan")) == "Lead source: not given"
    assert native._describe("age_days", 500.0) == "Age days high"
    assert len(native.explain(frame)) == 2


def test_a_missing_artifact_file_is_named(tmp_path: Path) -> None:
    directory = save_tiny_model(tmp_path / "m")
    (directory / "calibrator.json").unlink()
    with pytest.raises(ArtifactError, match=r"calibrator\.json"):
        NativePipeline(directory)


@pytest.mark.parametrize(
    ("probability", "points", "tier"),
    [(0.0, 1, "D"), (0.004, 1, "D"), (0.245, 25, "C"), (0.4949, 49, "C"), (0.495, 50, "B"),
     (0.749, 75, "A"), (0.7449, 74, "B"), (1.0, 99, "A")],
)  # fmt: skip
def test_score_and_tier(probability: float, points: int, tier: str) -> None:
    assert score_of(probability) == points
    assert tier_of(points) == tier


class DictFeatures:
    """A FeatureProvider over a dict of stored rows; records pass through, plus an age."""

    def __init__(self, stored: dict[str, dict[str, Any]]) -> None:
        self.stored = stored

    def describe(self) -> str:
        return "dict"

    def ping(self) -> None:
        return None

    def _with_age(self, row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        created = pd.Timestamp(row.pop("created_at"))
        return {**row, "age_days": (pd.Timestamp(now) - created).total_seconds() / 86400}

    def online_features(
        self,
        feature_service: str,
        entity_rows: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        now = request_time or dt.datetime.now(dt.UTC)
        rows = []
        for entity in entity_rows:
            key = entity["opportunity_id"]
            found = self.stored.get(key)
            rows.append(
                {"opportunity_id": key, **self._with_age(dict(found), now)}
                if found
                else {"opportunity_id": key, "rep_id": None, "stage_index": None}
            )
        return rows

    def record_features(
        self,
        feature_service: str,
        records: Sequence[Mapping[str, Any]],
        request_time: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        now = request_time or dt.datetime.now(dt.UTC)
        return [self._with_age(dict(r), now) for r in records]


STORED = {
    "o1": {"rep_id": "R1", "stage_index": 4, "lead_source": "referral", "product_id": "p1",
           "product_list_price_minor": 50000, "created_at": "2024-03-01T00:00:00Z"},
    "o9": {"rep_id": "R9", "stage_index": 1, "lead_source": "web", "product_id": "p2",
           "product_list_price_minor": 10000, "created_at": "2024-01-01T00:00:00Z"},
}  # fmt: skip
NOW = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)


@pytest.fixture
def runtime(model_dir: Path, tmp_path: Path) -> Any:
    models = DirectoryModelProvider.from_root(model_dir.parent, ["deal_risk"])
    return build_runtime(serving_settings(tmp_path), models=models, features=DictFeatures(STORED))


ADMIN = Principal("k", Role.ADMIN)
DEAL = TARGETS["deal_risk"]


def test_by_id_and_by_record_give_the_same_score(runtime: Any) -> None:
    by_id = score(runtime, ADMIN, DEAL, ["o1", "o9"], [], NOW)
    records = [{"opportunity_id": key, **row} for key, row in STORED.items()]
    by_record = score(runtime, ADMIN, DEAL, [], records, NOW)
    assert by_id.mode == "id" and by_record.mode == "record"
    assert by_id.scores == by_record.scores
    first = by_id.scores[0]
    assert first.id == "o1" and 1 <= first.score <= 99 and first.tier in "ABCD"
    assert first.positive_factors and all(f.contribution > 0 for f in first.positive_factors)
    assert by_id.scores[0].probability > by_id.scores[1].probability  # late stage, referral
    assert (by_id.model, by_id.model_version, by_id.feature_service) == (
        "deal_risk",
        "local",
        "deal_risk_v1",
    )


def test_unknown_id_is_404_and_bad_requests_are_422(runtime: Any) -> None:
    with pytest.raises(NotFoundError, match="nobody"):
        score(runtime, ADMIN, DEAL, ["nobody"], [], NOW)
    with pytest.raises(InvalidRequestError, match="either ids"):
        score(runtime, ADMIN, DEAL, [], [], NOW)
    with pytest.raises(InvalidRequestError, match="opportunity_id is required"):
        score(runtime, ADMIN, DEAL, [], [{"stage_index": 1, "created_at": "2024-01-01"}], NOW)
    bad = {"opportunity_id": "x", "stage_index": "late", "created_at": "2024-01-01T00:00:00Z"}
    with pytest.raises(InvalidRequestError, match="stage_index"):
        score(runtime, ADMIN, DEAL, [], [bad], NOW)


def test_a_rep_scores_only_their_own_deals(runtime: Any) -> None:
    rep = Principal("k", Role.REP, "R1")
    assert score(runtime, rep, DEAL, ["o1"], [], NOW).scores[0].id == "o1"
    with pytest.raises(ForbiddenError, match="R9"):
        score(runtime, rep, DEAL, ["o9"], [], NOW)


def test_estimate_adds_deal_risk_win_probability(runtime: Any) -> None:
    from _serving_support import WORKED_PLAN, quotas

    from serving.calculators import estimate_earnings
    from serving.ports import EstimateInputs
    from serving.schemas import OpenDeal, QuotaRow

    deals = [
        OpenDeal.model_validate(
            {"transaction_id": "o1", "amount": "20000.00", "currency": "USD",
             "credit_date": "2025-03-28"}
        ),
        OpenDeal.model_validate(
            {"transaction_id": "D2", "amount": "1000.00", "currency": "USD",
             "credit_date": "2025-03-28", "probability": "0.5"}
        ),
    ]  # fmt: skip
    result = estimate_earnings(
        runtime,
        ADMIN,
        EstimateInputs(
            WORKED_PLAN, "R1", deals, quotas=[QuotaRow.model_validate(q) for q in quotas()]
        ),
    )
    by_id = {d.transaction_id: d for d in result.deals}
    expected = score(runtime, ADMIN, DEAL, ["o1"], [], None).scores[0].probability
    assert by_id["o1"].probability_source == "deal_risk"
    assert float(by_id["o1"].probability or 0) == pytest.approx(expected, abs=5e-5)
    assert by_id["o1"].expected_incremental is not None
    assert by_id["D2"].probability_source == "request"
    assert result.probability_model == "deal_risk vlocal"
    assert result.expected_total is not None


def test_training_helper_really_learns() -> None:
    pipeline = train_tiny_pipeline()
    frame, labels = deal_frame(rows=200, seed=11)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels, pipeline.predict_proba(frame)[:, 1]) > 0.75
