"""On-demand features: values that depend on the request time.

The arithmetic lives in `features.transforms` and is shared with the plain
Python path used outside Feast, so training (request_time = label time) and
serving (request_time = now) compute the same thing.
"""

import pandas as pd
from feast import Field
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64

from features.feature_repo.data_sources import request_context_source
from features.feature_repo.feature_views import lead_created_stats, opportunity_event_stats


@on_demand_feature_view(
    sources=[
        opportunity_event_stats[["created_at", "last_stage_change_at"]],
        request_context_source,
    ],
    schema=[
        Field(name="age_days", dtype=Float64),
        Field(name="days_since_stage_change", dtype=Float64),
    ],
    mode="pandas",
    description="Deal age and days since the last stage change at request time.",
)
def opportunity_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    from features.transforms import opportunity_age_features as compute

    return compute(inputs)


@on_demand_feature_view(
    sources=[lead_created_stats[["created_at"]], request_context_source],
    schema=[Field(name="lead_age_days", dtype=Float64)],
    mode="pandas",
    description="Lead age at request time.",
)
def lead_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    from features.transforms import lead_age_features as compute

    return compute(inputs)
