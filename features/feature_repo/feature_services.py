"""Versioned feature services, one per model: `<model>_v<N>`.

A service is a contract with `training/` and `serving/`: never change the
feature list of a published version; add `<model>_v<N+1>` instead. Training
sets are built only through these services (point-in-time joins).
"""

from feast import FeatureService

from features.feature_repo.feature_views import (
    lead_created_stats,
    opportunity_event_stats,
    rep_daily_stats,
)
from features.feature_repo.on_demand_features import (
    lead_age_features,
    opportunity_age_features,
)
from features.feature_tables import (
    LEAD_ATTR_FEATURES,
    OPEN_STAGES,
    OPPORTUNITY_ATTR_FEATURES,
    QUOTA_CONTEXT_COLUMNS,
    WINDOWS_DAYS,
)

lead_scoring_v1 = FeatureService(
    name="lead_scoring_v1",
    features=[
        lead_created_stats[
            [
                "lead_source",
                "lead_origin",
                "country",
                "city",
                "occupation",
                "total_visits",
                "time_on_site_seconds",
                "page_views_per_visit",
                "do_not_email",
                "do_not_call",
                *LEAD_ATTR_FEATURES,
            ]
        ],
        lead_age_features,
    ],
    description="Lead conversion model: attributes and engagement known at creation.",
    tags={"model": "lead_scoring", "version": "1"},
)

deal_risk_v1 = FeatureService(
    name="deal_risk_v1",
    features=[
        opportunity_event_stats[
            [
                "stage",
                "stage_index",
                "stage_change_count",
                "rep_id",
                "team_id",
                "region_id",
                "lead_source",
                "product_id",
                "product_category",
                "product_list_price_minor",
                "account_sector",
                "account_employees",
                "account_annual_revenue_minor",
                "amount_minor",
                *OPPORTUNITY_ATTR_FEATURES,
            ]
        ],
        opportunity_age_features,
    ],
    description="Deal win/loss risk for open opportunities: the latest lifecycle snapshot "
    "before the request time plus age and time in stage.",
    tags={"model": "deal_risk", "version": "1"},
)

_ATTAINMENT_V1_FEATURES = [
    *[
        f"{measure}_{w}d{suffix}"
        for w in WINDOWS_DAYS
        for measure, suffix in (
            ("deals_won", ""),
            ("deals_lost", ""),
            ("win_rate", ""),
            ("revenue_closed", "_minor"),
            ("avg_deal_size", "_minor"),
            ("cycle_time", "_days"),
        )
    ],
    *[f"pipeline_{stage}_count" for stage in OPEN_STAGES],
    "pipeline_open_count",
    "revenue_mtd_minor",
    "quota_month_minor",
    "attainment_mtd",
    "month_elapsed_fraction",
    "previous_month_attainment",
    "trailing_3m_attainment",
    "trailing_3m_hit_rate",
]

attainment_v1 = FeatureService(
    name="attainment_v1",
    features=[rep_daily_stats[_ATTAINMENT_V1_FEATURES]],
    description="Quota attainment model: a rep's trailing performance, open pipeline and "
    "month-to-date progress against the monthly revenue quota.",
    tags={"model": "attainment", "version": "1"},
)

attainment_v2 = FeatureService(
    name="attainment_v2",
    features=[rep_daily_stats[[*_ATTAINMENT_V1_FEATURES, *QUOTA_CONTEXT_COLUMNS]]],
    description="attainment_v1 plus pace and quota context: run-rate projection, quota "
    "change from last month, quota against recent sales, month of the quarter.",
    tags={"model": "attainment", "version": "2"},
)
