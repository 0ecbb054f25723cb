"""Data sources: one per feature table, named `<table>_source`.

Paths are relative to the Feast repo path, which `features.feature_store`
sets to the data directory, so `<data_dir>/features/<table>.parquet` is read
whatever the working directory. The production configuration swaps these
for PostgreSQL tables of the same name (`features.feature_store`).
"""

from feast import Field, FileSource, RequestSource
from feast.types import UnixTimestamp


def _feature_table(table: str) -> FileSource:
    return FileSource(
        name=f"{table}_source",
        path=f"features/{table}.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        description=f"Feature table `{table}` built by features.feature_tables.",
    )


rep_daily_stats_source = _feature_table("rep_daily_stats")
team_daily_stats_source = _feature_table("team_daily_stats")
region_daily_stats_source = _feature_table("region_daily_stats")
opportunity_event_stats_source = _feature_table("opportunity_event_stats")
lead_created_stats_source = _feature_table("lead_created_stats")
account_profile_stats_source = _feature_table("account_profile_stats")
product_profile_stats_source = _feature_table("product_profile_stats")

# The moment a prediction is made for: at training time the label's timestamp,
# at serving time "now". On-demand features depend on it.
request_context_source = RequestSource(
    name="request_context_source",
    schema=[Field(name="request_time", dtype=UnixTimestamp)],
    description="Request-time inputs of on-demand features.",
)
