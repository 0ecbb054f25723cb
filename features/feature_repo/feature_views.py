"""Feature views over the feature tables, named `<entity>_<grain>_stats`.

Schemas come from the builder's declared column types
(`features.feature_tables.FEATURE_TABLE_DTYPES`) so the Parquet files and the
views cannot drift apart. TTL = how long a row stays the answer for later
request times; 0 means static reference data that never expires.
"""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Bool, FeastType, Float64, Int64, String, UnixTimestamp

from features.feature_repo.data_sources import (
    account_profile_stats_source,
    lead_created_stats_source,
    opportunity_event_stats_source,
    product_profile_stats_source,
    region_daily_stats_source,
    rep_daily_stats_source,
    team_daily_stats_source,
)
from features.feature_repo.entities import account, lead, opportunity, product, region, rep, team
from features.feature_tables import FEATURE_TABLE_DTYPES

_FEAST_TYPES: dict[str, FeastType] = {
    "string": String,
    "int64": Int64,
    "Int64": Int64,
    "float64": Float64,
    "bool": Bool,
    "boolean": Bool,
    "datetime64[ns, UTC]": UnixTimestamp,
}
_NOT_FEATURES = {"event_timestamp", "created"}


def _schema(table: str, join_key: str) -> list[Field]:
    """Join key first, then every feature column of the table with its Feast type."""
    dtypes = FEATURE_TABLE_DTYPES[table]
    return [Field(name=join_key, dtype=String)] + [
        Field(name=col, dtype=_FEAST_TYPES[dtype])
        for col, dtype in dtypes.items()
        if col not in _NOT_FEATURES and col != join_key
    ]


rep_daily_stats = FeatureView(
    name="rep_daily_stats",
    entities=[rep],
    ttl=timedelta(days=2),  # a daily snapshot; older than two days means no data
    schema=_schema("rep_daily_stats", "rep_id"),
    source=rep_daily_stats_source,
    online=True,
    description="Rep performance as of midnight UTC: rolling 30/90/365-day win rate, "
    "deals, net credited revenue, average deal size, cycle time; open pipeline by "
    "stage; month-to-date revenue, monthly quota and attainment.",
    tags={"grain": "daily", "owner": "features"},
)

team_daily_stats = FeatureView(
    name="team_daily_stats",
    entities=[team],
    ttl=timedelta(days=2),
    schema=_schema("team_daily_stats", "team_id"),
    source=team_daily_stats_source,
    online=True,
    description="Team totals of the rep daily snapshots (by each rep's current team).",
    tags={"grain": "daily", "owner": "features"},
)

region_daily_stats = FeatureView(
    name="region_daily_stats",
    entities=[region],
    ttl=timedelta(days=2),
    schema=_schema("region_daily_stats", "region_id"),
    source=region_daily_stats_source,
    online=True,
    description="Region totals of the rep daily snapshots (by each rep's current region).",
    tags={"grain": "daily", "owner": "features"},
)

opportunity_event_stats = FeatureView(
    name="opportunity_event_stats",
    entities=[opportunity],
    ttl=timedelta(days=730),  # a deal with no event for two years is stale
    schema=_schema("opportunity_event_stats", "opportunity_id"),
    source=opportunity_event_stats_source,
    online=True,
    description="Opportunity snapshot at each lifecycle event (creation, stage change, "
    "close): stage, product, account size and sector; amount only once closed.",
    tags={"grain": "event", "owner": "features"},
)

lead_created_stats = FeatureView(
    name="lead_created_stats",
    entities=[lead],
    ttl=timedelta(days=365),
    schema=_schema("lead_created_stats", "lead_id"),
    source=lead_created_stats_source,
    online=True,
    description="Lead attributes and web engagement as recorded at creation.",
    tags={"grain": "created", "owner": "features"},
)

account_profile_stats = FeatureView(
    name="account_profile_stats",
    entities=[account],
    ttl=timedelta(0),  # static reference data: never expires
    schema=_schema("account_profile_stats", "account_id"),
    source=account_profile_stats_source,
    online=True,
    description="Account sector, size and revenue (no history in the canonical model).",
    tags={"grain": "profile", "owner": "features"},
)

product_profile_stats = FeatureView(
    name="product_profile_stats",
    entities=[product],
    ttl=timedelta(0),
    schema=_schema("product_profile_stats", "product_id"),
    source=product_profile_stats_source,
    online=True,
    description="Product category and list price.",
    tags={"grain": "profile", "owner": "features"},
)
