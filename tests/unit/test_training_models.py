"""Model definitions: specs, labels and splits on small hand-made training sets
(feature-service column names)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.encoding import FrameEncoder
from training.models import attainment, deal_risk, lead_scoring


def test_lead_form_placeholder_is_missing_in_the_encoder_and_leaks_are_excluded() -> None:
    encoder = FrameEncoder.from_spec(lead_scoring.SPEC, min_category_count=1)
    frame = pd.DataFrame({name: ["x", "x", "x"] for name in lead_scoring.SPEC.names})
    for column in lead_scoring.SPEC.numeric:
        frame[column] = [1.0, 2.0, 3.0]
    for column in lead_scoring.SPEC.boolean:
        frame[column] = [True, False, True]
    frame["attr_specialization"] = ["Select", "Finance Management", "select "]
    encoder.fit(frame)
    assert encoder.categories_["attr_specialization"] == ["Finance Management"]
    codes = encoder.transform(frame)[
        :, list(encoder.feature_names_out_).index("attr_specialization")
    ]
    assert np.isnan(codes[0]) and codes[1] == 0.0 and np.isnan(codes[2])
    # saved with the model, so serving reads the same rule
    assert FrameEncoder.from_dict(encoder.to_dict()).missing_values == ["select"]
    assert not set(lead_scoring.LEAKING_COLUMNS) & set(lead_scoring.SPEC.names)


def test_lead_builders_name_the_missing_column_and_the_open_lead_row() -> None:
    with pytest.raises(ValueError, match=r"missing feature columns \['total_visits'"):
        lead_scoring.prepare_features(pd.DataFrame({"lead_id": ["a"]}))
    with pytest.raises(ValueError, match="row 11"):
        lead_scoring.labels(pd.DataFrame({"converted": [True, None]}, index=[10, 11]))


def test_deal_labels_refuse_open_deals_naming_the_opportunity() -> None:
    opportunities = pd.DataFrame({"opportunity_id": ["o1", "o2"], "outcome": ["won", "open"]})
    assert deal_risk.closed(opportunities)["opportunity_id"].tolist() == ["o1"]
    with pytest.raises(ValueError, match=r"row 1 \(o2\)"):
        deal_risk.labels(opportunities)
    with pytest.raises(ValueError, match="row 1: 'won' must be 0 or 1"):
        deal_risk.won_labels(pd.DataFrame({"won": [1, None]}))


def test_ibm_spec_leaves_out_every_lifecycle_column() -> None:
    assert not set(deal_risk.IBM_LEAKING) & set(deal_risk.IBM_SPEC.names)
    assert deal_risk.IBM_PRIOR_REVENUE not in deal_risk.IBM_SAFE_ONLY_SPEC.names
    assert "amount_minor" not in deal_risk.MAVEN_SPEC.names  # close value only


def test_model_specs_use_only_their_feature_service_columns() -> None:
    from features.feature_repo import feature_services
    from features.feature_repo.on_demand_features import (
        lead_age_features,
        opportunity_age_features,
    )

    def served(service: object, extra: tuple[str, ...]) -> set[str]:
        names = {f.name for p in service.feature_view_projections for f in p.features}  # type: ignore[attr-defined]
        return names | set(extra)

    lead = served(feature_services.lead_scoring_v1, ())
    deal = served(feature_services.deal_risk_v1, ("opportunity_id",))
    attain = served(feature_services.attainment_v2, ())
    assert lead_age_features and opportunity_age_features
    assert set(lead_scoring.SPEC.names) <= lead
    assert set(deal_risk.IBM_SPEC.names) <= deal
    assert set(deal_risk.MAVEN_SPEC.names) <= deal
    assert set(attainment.SPEC.names) <= attain


def test_split_by_period() -> None:
    snapshots = pd.DataFrame({"period": ["2019-05", "2019-07", "2019-06", "2020-01"]})
    train, test = attainment.split_by_period(snapshots, "2019-07")
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]


def test_deal_time_split_keeps_each_deal_on_one_side() -> None:
    frame = pd.DataFrame(
        {
            "opportunity_id": ["a", "a", "b"],
            "closed_at": pd.to_datetime(["2017-09-30", "2017-09-30", "2017-10-02"], utc=True),
        }
    )
    train, test = deal_risk.time_split(frame, pd.Timestamp("2017-10-01", tz="UTC"))
    assert train.tolist() == [0, 1] and test.tolist() == [2]


def test_every_model_feature_has_business_language() -> None:
    """Each feature a model reads has a label ("Deal size: not given") and numbers and
    flags a high/low phrase, saved with the model as phrases.json."""
    for spec, phrases in (
        (lead_scoring.SPEC, lead_scoring.PHRASES),
        (deal_risk.IBM_SPEC, deal_risk.PHRASES),
        (deal_risk.MAVEN_SPEC, deal_risk.PHRASES),
        (attainment.SPEC, attainment.PHRASES),
    ):
        for name in spec.names:
            assert name in phrases and phrases[name].label, name
        for name in (*spec.numeric, *spec.boolean):
            assert phrases[name].high and phrases[name].low, name
