"""Feast feature store end to end on the sample dataset: apply, materialize and
online reads on the default store (SQLite + files), point-in-time correct
training sets through feature services only, and the production configuration
(PostgreSQL offline store + SQL registry, Redis online store) returning the
same online values as the default store."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import sqlalchemy as sa

from features import feature_store
from features.feature_store import FeatureStoreError
from features.feature_tables import UNDATED_AS_OF
from features.sample_data import InMemoryCanonicalStore, sample_canonical_tables
from features.transforms import days_since

BUILT = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 6, tzinfo=dt.UTC)
ONLINE_CASES: dict[str, list[dict[str, str]]] = {
    "attainment_v1": [{"rep_id": "r1"}, {"rep_id": "r2"}, {"rep_id": "nobody"}],
    "deal_risk_v1": [{"opportunity_id": "o5"}, {"opportunity_id": "o3"}],
    "lead_scoring_v1": [{"lead_id": "l1"}, {"lead_id": "l2"}],
}


def _build(data_dir: Path) -> None:
    feature_store.build_feature_tables(
        InMemoryCanonicalStore(sample_canonical_tables()), data_dir, created=BUILT
    )


@pytest.fixture(scope="module")
def default_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("feature_store_default")
    _build(data_dir)
    feature_store.apply(data_dir)
    feature_store.materialize(data_dir, END)
    return data_dir


def _online(data_dir: Path, service: str, config: str = "default") -> pd.DataFrame:
    return feature_store.online_features(
        service, ONLINE_CASES[service], data_dir=data_dir, config=config, request_time=END
    )


# ------------------------------------------------------------------ default store


def test_apply_registers_entities_views_and_versioned_services(default_store_dir: Path) -> None:
    info = feature_store.describe(default_store_dir)
    assert info["entities"] == sorted(
        ["rep", "lead", "opportunity", "account", "product", "team", "region"]
    )
    assert set(info["feature_services"]) == {
        "lead_scoring_v1",
        "deal_risk_v1",
        "attainment_v1",
        "attainment_v2",
    }
    assert info["feature_views"]["rep_daily_stats"]["ttl_seconds"] == 2 * 86_400
    assert info["feature_views"]["rep_daily_stats"]["source"] == "rep_daily_stats_source"
    assert "age_days" in info["on_demand_feature_views"]["opportunity_age_features"]["features"]
    assert info["feature_services"]["deal_risk_v1"]["join_keys"] == ["opportunity_id"]
    # the effective yaml lives in the data dir: paths resolve there from any cwd
    assert (default_store_dir / "feature_store.yaml").is_file()
    assert (default_store_dir / "feast" / "online_store.db").is_file()


def test_online_values_are_the_latest_snapshot_at_materialization(
    default_store_dir: Path,
) -> None:
    online = _online(default_store_dir, "attainment_v1").set_index("rep_id")
    table = pd.read_parquet(default_store_dir / "features" / "rep_daily_stats.parquet")
    latest = table[table["event_timestamp"] == pd.Timestamp(END)].set_index("rep_id")
    for rep_id in ("r1", "r2"):
        for column in ("revenue_closed_90d_minor", "deals_won_365d", "pipeline_open_count"):
            assert online.loc[rep_id, column] == latest.loc[rep_id, column], (rep_id, column)
    assert online.loc["r1", "revenue_closed_90d_minor"] == 150_025
    assert online.loc["r1", "win_rate_90d"] == pytest.approx(2 / 3)
    assert online.loc["nobody"].isna().all()


def test_on_demand_feature_equals_the_plain_python_path(default_store_dir: Path) -> None:
    online = _online(default_store_dir, "deal_risk_v1").set_index("opportunity_id")
    snaps = pd.read_parquet(default_store_dir / "features" / "opportunity_event_stats.parquet")
    o5 = snaps[snaps["opportunity_id"] == "o5"].iloc[-1]
    assert online.loc["o5", "stage"] == "proposal"
    assert online.loc["o5", "age_days"] == pytest.approx(days_since(o5["created_at"], END))
    assert online.loc["o5", "days_since_stage_change"] == pytest.approx(
        days_since(o5["last_stage_change_at"], END)
    )
    assert online.loc["o5", "days_since_stage_change"] == pytest.approx(24.5)  # since 02-10 12:00


def test_training_frame_is_point_in_time_correct(default_store_dir: Path) -> None:
    labels = pd.DataFrame(
        {
            "opportunity_id": ["o4", "o4", "o4"],
            "event_timestamp": pd.to_datetime(
                ["2024-01-10 00:00:00", "2024-01-15 07:59:59", "2024-01-15 08:00:00"], utc=True
            ),
            "won": [1, 1, 1],
        }
    )
    frame = feature_store.training_frame("deal_risk_v1", labels, data_dir=default_store_dir)
    # input order and label column kept; negotiation (01-15 08:00) visible only from that instant
    assert frame["won"].tolist() == [1, 1, 1]
    assert frame["stage"].tolist() == ["prospecting", "prospecting", "negotiation"]
    assert frame["amount_minor"].isna().all()  # the close value never leaks into open rows
    # on-demand features are evaluated at the label time
    assert frame["age_days"].iloc[0] == pytest.approx(
        days_since(pd.Timestamp("2024-01-05 08:00", tz="UTC"), pd.Timestamp("2024-01-10", tz="UTC"))
    )


def test_a_value_recorded_after_the_label_never_reaches_the_training_row(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "leak"
    _build(data_dir)
    label_time = pd.Timestamp("2024-02-20 12:00", tz="UTC")
    path = data_dir / "features" / "rep_daily_stats.parquet"
    table = pd.read_parquet(path)
    honest = table[(table["rep_id"] == "r2") & (table["event_timestamp"] <= label_time)].iloc[-1]
    # A poisoned snapshot one second after the label, and one recorded at the label
    # time but with a later value: only the latter may be seen.
    future = honest.copy()
    future["event_timestamp"] = label_time + pd.Timedelta(seconds=1)
    future["revenue_closed_30d_minor"] = 999_999_999
    table = pd.concat([table, future.to_frame().T], ignore_index=True).astype(table.dtypes)
    table.to_parquet(path, index=False)
    feature_store.apply(data_dir)

    labels = pd.DataFrame(
        {
            "rep_id": ["r2", "r2"],
            "event_timestamp": [label_time, label_time + pd.Timedelta(seconds=1)],
            "attained": [1, 0],
        }
    )
    frame = feature_store.training_frame("attainment_v1", labels, data_dir=data_dir)
    assert frame["revenue_closed_30d_minor"].iloc[0] == honest["revenue_closed_30d_minor"]
    assert frame["revenue_closed_30d_minor"].iloc[0] != 999_999_999
    # the same value is visible to a label at (not before) its timestamp: the test can fail
    assert frame["revenue_closed_30d_minor"].iloc[1] == 999_999_999


def test_ttl_expires_stale_rows_and_undated_rows_need_the_undated_as_of(
    default_store_dir: Path,
) -> None:
    labels = pd.DataFrame(
        {
            "rep_id": ["r1", "r1"],
            # r1's snapshots end 2024-03-06; TTL is two days
            "event_timestamp": pd.to_datetime(
                ["2024-03-07 12:00:00", "2024-03-09 00:00:01"], utc=True
            ),
        }
    )
    frame = feature_store.training_frame("attainment_v1", labels, data_dir=default_store_dir)
    assert frame["deals_won_365d"].iloc[0] == 2
    assert pd.isna(frame["deals_won_365d"].iloc[1])
    leads = pd.DataFrame({"lead_id": ["l3"], "event_timestamp": [UNDATED_AS_OF]})
    frame = feature_store.training_frame("lead_scoring_v1", leads, data_dir=default_store_dir)
    assert frame["lead_source"].iloc[0] == "olark chat"
    assert math.isnan(frame["lead_age_days"].iloc[0])  # no creation time, no age


def test_training_needs_a_registered_service_and_its_keys(default_store_dir: Path) -> None:
    labels = pd.DataFrame({"rep_id": ["r1"], "event_timestamp": [pd.Timestamp(END)]})
    with pytest.raises(FeatureStoreError, match="not registered"):
        feature_store.training_frame("attainment_v0", labels, data_dir=default_store_dir)
    with pytest.raises(FeatureStoreError, match=r"missing column.*opportunity_id"):
        feature_store.training_frame("deal_risk_v1", labels, data_dir=default_store_dir)


def test_apply_without_feature_tables_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match=r"rep_daily_stats.*build them first"):
        feature_store.apply(tmp_path)


# ------------------------------------------------------------------ production config


@pytest.fixture()
def production_env(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str, redis_url: str
) -> Iterator[str]:
    """Unique schema, Feast project and SQL registry per run; dropped afterwards."""
    run = uuid.uuid4().hex[:12]
    schema = f"spm_t_{run}"
    url = sa.engine.make_url(postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    redis_host = redis_url.split("//", 1)[1].split("/", 1)[0]
    options = quote(f"-csearch_path={schema}")
    env = {
        "SPM_FEAST_PROJECT": f"spm_t_{run}",
        "SPM_FEAST_REGISTRY_URL": f"{url.render_as_string(hide_password=False)}?options={options}",
        "SPM_PG_HOST": url.host or "127.0.0.1",
        "SPM_PG_PORT": str(url.port or 5432),
        "SPM_PG_DATABASE": url.database or "test",
        "SPM_PG_SCHEMA": schema,
        "SPM_PG_USER": url.username or "postgres",
        "SPM_PG_PASSWORD": url.password or "",
        "SPM_PG_SSLMODE": "disable",
        "SPM_REDIS_CONNECTION": redis_host,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.redis
def test_production_config_serves_the_same_values_as_the_default_store(
    production_env: str, default_store_dir: Path, tmp_path: Path
) -> None:
    import redis

    data_dir = tmp_path / "prod"
    _build(data_dir)
    store = feature_store.open_feature_store(data_dir, "production")
    try:
        summary = feature_store.apply(data_dir, "production", store=store)
        assert summary.offline_tables_loaded["rep_daily_stats"] > 0
        feature_store.materialize(data_dir, END, "production", store=store)
        for service in ONLINE_CASES:
            expected = _online(default_store_dir, service)
            actual = feature_store.online_features(
                service, ONLINE_CASES[service], store=store, request_time=END
            )
            pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
        # the offline store (PostgreSQL) gives the same point-in-time rows as the files
        labels = pd.DataFrame(
            {
                "opportunity_id": ["o4", "o4", "o5"],
                "event_timestamp": pd.to_datetime(
                    ["2024-01-10", "2024-01-20", "2024-03-01"], utc=True
                ),
            }
        )
        prod_rows = feature_store.training_frame("deal_risk_v1", labels, store=store)
        default_rows = feature_store.training_frame(
            "deal_risk_v1", labels, data_dir=default_store_dir
        )
        assert prod_rows["stage"].tolist() == default_rows["stage"].tolist()
        assert prod_rows["age_days"].tolist() == pytest.approx(default_rows["age_days"].tolist())
        client = redis.Redis.from_url(f"redis://{store.config.online_store.connection_string}")
        assert any(True for _ in client.scan_iter(match=f"*{store.project}", count=1000))
    finally:
        store.teardown()
    client = redis.Redis.from_url(f"redis://{store.config.online_store.connection_string}")
    assert not any(True for _ in client.scan_iter(match=f"*{store.project}", count=1000))


def test_production_config_refuses_to_start_without_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SPM_PG_PASSWORD", raising=False)
    with pytest.raises(FeatureStoreError, match="SPM_PG_PASSWORD"):
        feature_store.open_feature_store(tmp_path, "production")


# ------------------------------------------------------------------ CLI


def test_cli_apply_materialize_describe_on_the_ingestion_store(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from features.ingest.storage import open_store
    from spm_cli.main import app

    data_dir = tmp_path / "cli"
    open_store(data_dir).write_tables(sample_canonical_tables())
    runner = CliRunner()
    applied = runner.invoke(app, ["features", "apply", "--data-dir", str(data_dir), "--json"])
    assert applied.exit_code == 0, applied.output
    payload = json.loads(applied.stdout)
    assert payload["feature_services"] == [
        "lead_scoring_v1",
        "deal_risk_v1",
        "attainment_v1",
        "attainment_v2",
    ]
    assert {t["name"]: t["rows"] for t in payload["tables"]}["opportunity_event_stats"] == 12
    materialized = runner.invoke(
        app,
        ["features", "materialize", "--data-dir", str(data_dir), "--end-date", "2024-03-05"],
    )
    assert materialized.exit_code == 0, materialized.output
    described = runner.invoke(app, ["features", "describe", "--data-dir", str(data_dir), "--json"])
    assert described.exit_code == 0, described.output
    assert json.loads(described.stdout)["feature_views"]["rep_daily_stats"]["ttl_seconds"] == 172800
    # --end-date 2024-03-05 means "known by the end of that day": the 03-06 snapshot
    online = feature_store.online_features("attainment_v1", [{"rep_id": "r1"}], data_dir=data_dir)
    assert online["revenue_closed_90d_minor"].iloc[0] == 150_025


# ------------------------------------------------------------------ the demo's real data

DEMO_END = dt.datetime(2020, 7, 1, tzinfo=dt.UTC)  # `--end-date 2020-06-30`: the end of that day
DEMO_VIEWS = ["lead_created_stats", "opportunity_event_stats", "rep_daily_stats"]


def _real_ids(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """One real entity per era: an X Education lead (undated; the demo's enrichment
    stamps it in 2017), a Maven CRM open deal (2016-17), an AdventureWorks rep (to
    2020) and a Maven rep (last daily row 2018)."""
    leads, opps, reps = tables["leads"], tables["opportunities"], tables["reps"]
    open_maven = opps[(opps["source"] == "maven_crm") & ~opps["stage"].isin(["won", "lost"])]
    aw_reps = set(reps.loc[reps["source"].str.startswith("adventureworks"), "rep_id"])
    maven_reps = set(reps.loc[reps["source"] == "maven_crm", "rep_id"])
    assert "aw-286" in aw_reps and "Darcel Schlecht" in maven_reps
    return {
        "lead": sorted(leads.loc[leads["source"] == "x_education", "lead_id"])[0],
        "deal": sorted(open_maven["opportunity_id"])[0],
        "aw_rep": "aw-286",
        "maven_rep": "Darcel Schlecht",
    }


def test_demo_materialize_all_history_serves_every_era_of_the_real_data(
    shared_import_dir: Path, tmp_path: Path
) -> None:
    """What `spm demo` does (enrich, build + apply, materialize --end-date 2020-06-30
    --all-history) on the shared datasets: every service answers by id for real
    entities of each era, which the TTL-window default cannot (it starts each view
    at end - ttl: 2020-06-29 for rep_daily_stats, 2019 for leads, 2018 for deals)."""
    from features.feature_store import read_canonical_tables
    from features.ingest.enrichment import enrich
    from features.ingest.storage import open_store

    # The shared import is read-only: enrich in memory, build into this test's dir.
    enriched = enrich(read_canonical_tables(open_store(shared_import_dir), shared_import_dir))
    tables = dict(enriched.tables)
    ids = _real_ids(tables)
    data_dir = tmp_path / "data"
    feature_store.build_feature_tables(InMemoryCanonicalStore(tables), data_dir)
    feature_store.apply(data_dir)
    store = feature_store.open_feature_store(data_dir)

    def online() -> dict[str, pd.Series]:
        def one(service: str, key: str, value: str) -> pd.Series:
            frame = feature_store.online_features(
                service, [{key: value}], store=store, request_time=DEMO_END
            )
            return frame.iloc[0]

        return {
            "lead": one("lead_scoring_v1", "lead_id", ids["lead"]),
            "deal": one("deal_risk_v1", "opportunity_id", ids["deal"]),
            "aw_rep": one("attainment_v1", "rep_id", ids["aw_rep"]),
            "maven_rep": one("attainment_v1", "rep_id", ids["maven_rep"]),
        }

    # The TTL-window default (the old demo): only the AdventureWorks rep is there.
    windowed = feature_store.materialize(data_dir, DEMO_END, views=DEMO_VIEWS, store=store)
    assert windowed.feature_views["rep_daily_stats"] == "2020-06-29T00:00:00+00:00"
    before = online()
    assert pd.isna(before["lead"]["total_visits"]) and pd.isna(before["lead"]["lead_source"])
    assert pd.isna(before["deal"]["stage"])
    assert pd.isna(before["maven_rep"]["deals_won_365d"])
    assert not pd.isna(before["aw_rep"]["deals_won_365d"])

    # The demo's --all-history (from 1970) for leads and reps. For deals the test
    # starts in 2010: the same answer for every dated deal, without writing the
    # 77,829 closed IBM deals stamped 2000-01-01 (~25 s of CPU) that the demo writes.
    summary = feature_store.materialize(
        data_dir,
        DEMO_END,
        start_date=feature_store.EPOCH,
        views=["lead_created_stats", "rep_daily_stats"],
        store=store,
    )
    assert set(summary.feature_views.values()) == {"1970-01-01T00:00:00+00:00"}
    deals_from = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
    feature_store.materialize(
        data_dir, DEMO_END, start_date=deals_from, views=["opportunity_event_stats"], store=store
    )
    opp_table = pd.read_parquet(data_dir / "features" / "opportunity_event_stats.parquet")
    maven_deal_rows = opp_table[opp_table["opportunity_id"] == ids["deal"]]
    assert maven_deal_rows["event_timestamp"].min() > pd.Timestamp(deals_from)
    after = online()
    lead, deal, aw_rep, maven_rep = (
        after["lead"],
        after["deal"],
        after["aw_rep"],
        after["maven_rep"],
    )
    assert lead["lead_source"] and lead["total_visits"] >= 0 and lead["lead_origin"]
    assert deal["stage"] in {"prospecting", "engaging"} and deal["stage_index"] in {0, 2}
    assert deal["product_id"] and deal["rep_id"] and deal["product_list_price_minor"] > 0
    assert deal["age_days"] > 900  # a 2016-17 deal seen from mid-2020
    for rep in (aw_rep, maven_rep):
        assert not pd.isna(rep["deals_won_365d"]) and not pd.isna(rep["pipeline_open_count"])
    assert aw_rep["revenue_closed_365d_minor"] > 0
    # Each value is the entity's latest row up to the end date, not any older one.
    reps_table = pd.read_parquet(data_dir / "features" / "rep_daily_stats.parquet")
    maven_rows = reps_table[reps_table["rep_id"] == ids["maven_rep"]]
    latest = maven_rows.loc[maven_rows["event_timestamp"].idxmax()]
    assert latest["event_timestamp"] < DEMO_END - dt.timedelta(days=365)  # far past the 2-day TTL
    assert maven_rep["revenue_closed_365d_minor"] == latest["revenue_closed_365d_minor"]
    assert maven_rep["deals_won_365d"] == latest["deals_won_365d"]

    # Neither Feast's SQLite read (above) nor serving's direct read applies the TTL
    # at read time: the Maven rep's 18-month-old row is served as is.
    from serving.adapters.online_store import SqliteOnlineFeatures

    direct = SqliteOnlineFeatures(data_dir).online_features(
        "attainment_v1", [{"rep_id": ids["maven_rep"]}], request_time=DEMO_END
    )[0]
    assert direct["deals_won_365d"] == maven_rep["deals_won_365d"]
    assert direct["revenue_closed_365d_minor"] == maven_rep["revenue_closed_365d_minor"]


def test_materialize_refuses_unknown_views_and_an_empty_interval(
    default_store_dir: Path,
) -> None:
    with pytest.raises(FeatureStoreError, match=r"unknown feature view.*nope"):
        feature_store.materialize(default_store_dir, END, views=["nope"])
    with pytest.raises(FeatureStoreError, match="not before end date"):
        feature_store.materialize(default_store_dir, END, start_date=END)


def test_cli_materialize_start_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from spm_cli.main import app

    base = ["features", "materialize", "--data-dir", str(tmp_path), "--end-date", "2020-06-30"]

    def refused(*args: str) -> str:
        result = CliRunner().invoke(app, [*base, *args])
        assert result.exit_code == 2, result.output
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # unwrap rich's box

    assert "not both" in refused("--all-history", "--start-date", "2010-01-01")
    assert "is not before the end date" in refused("--start-date", "2020-07-01")
    assert "not an ISO date" in refused("--start-date", "last year")
    assert not any(tmp_path.iterdir())  # nothing opened or written
