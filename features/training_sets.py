"""Training sets for the models, built only through their feature services.

Each builder returns an *entity frame*: the entity key, `event_timestamp`
(the moment a prediction would have been made), the label and any columns
the split needs. `training_set` then joins the feature service onto it
point-in-time (`feature_store.training_frame`), so a feature value recorded
after a row's timestamp never reaches that row, and the model sees exactly
the columns the online store serves (same names, same code for request-time
features). Labels come from the canonical tables (or, for attainment, from
the month-end snapshot of the same feature table), never from the features.

Only real rows train (`is_synthetic` rows are left out), except attainment
on Maven CRM, whose quotas only exist as documented derived quotas.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.feature_tables import UNDATED_AS_OF

log = logging.getLogger(__name__)

# How far into an open deal a training snapshot is taken (days after creation).
DEAL_SNAPSHOT_AGES_DAYS: tuple[int, ...] = (0, 7, 14, 30, 60, 90)
# Where inside a month an attainment snapshot is taken (share of its days gone).
ATTAINMENT_CHECKPOINTS: tuple[float, ...] = (0.25, 0.5, 0.75)
# A snapshot an hour after the creation event sees that event (joins take rows <= ts).
_AFTER_EVENT = pd.Timedelta(hours=1)


class TrainingSetError(ValueError):
    """No usable training rows; names the table, source and reason."""


@dataclass(frozen=True)
class EntityFrame:
    """Rows to fetch features for: `frame` holds the key, `event_timestamp`, `label`
    and split columns; `service` is the feature service that supplies the features."""

    service: str
    dataset: str
    label: str
    frame: pd.DataFrame


def real_rows(
    table: pd.DataFrame, source: str, name: str, *, synthetic: bool = False
) -> pd.DataFrame:
    """Rows of one import; seeded synthetic rows only when `synthetic`."""
    if "source" not in table.columns:
        raise TrainingSetError(f"table {name}: missing column 'source'")
    rows = table["source"] == source
    if not synthetic and "is_synthetic" in table.columns:
        rows &= ~table["is_synthetic"].fillna(False).astype(bool)
    out = table.loc[rows.to_numpy()].reset_index(drop=True)
    if out.empty:
        raise TrainingSetError(f"table {name}: no rows from source {source!r}")
    return out


def _timestamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def lead_entities(leads: pd.DataFrame, source: str, service: str) -> EntityFrame:
    """Leads with a known outcome, at their creation (undated leads at UNDATED_AS_OF)."""
    rows = real_rows(leads, source, "leads")
    if "converted" not in rows.columns:
        raise TrainingSetError("table leads: missing label column 'converted'")
    rows = rows[rows["converted"].notna()].reset_index(drop=True)
    created = _timestamps(rows["created_at"]) if "created_at" in rows else None
    stamp = (
        (created + _AFTER_EVENT).fillna(UNDATED_AS_OF)
        if created is not None
        else pd.Series(UNDATED_AS_OF, index=rows.index)
    )
    frame = pd.DataFrame(
        {
            "lead_id": rows["lead_id"].astype(str),
            "event_timestamp": stamp.astype("datetime64[ns, UTC]"),
            "converted": rows["converted"].astype(bool).astype(int),
        }
    )
    return EntityFrame(service, source, "converted", frame)


def _closed(opportunities: pd.DataFrame) -> pd.DataFrame:
    closed = opportunities[opportunities["outcome"].isin(("won", "lost"))]
    return closed.reset_index(drop=True)


def deal_entities_at_close(opportunities: pd.DataFrame, source: str, service: str) -> EntityFrame:
    """Closed deals of an undated source, one row each at UNDATED_AS_OF (the source
    records each deal once; its feature snapshot hides the final stage)."""
    deals = _closed(real_rows(opportunities, source, "opportunities"))
    groups = deals.get("attr_opportunity_number", deals["opportunity_id"])
    frame = pd.DataFrame(
        {
            "opportunity_id": deals["opportunity_id"].astype(str),
            "event_timestamp": UNDATED_AS_OF,
            "won": (deals["outcome"] == "won").astype(int),
            # repeated opportunity numbers must stay on one side of a split
            "split_group": groups.astype(str),
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[ns, UTC]")
    return EntityFrame(service, source, "won", frame)


def deal_entities_while_open(
    opportunities: pd.DataFrame,
    source: str,
    service: str,
    ages_days: Sequence[int] = DEAL_SNAPSHOT_AGES_DAYS,
) -> EntityFrame:
    """Closed, dated deals seen as they were while open: one row per snapshot age
    (days after creation) that falls before the close, labelled with the outcome.
    No row looks past the close; a deal closed within an hour of its creation
    has no open snapshot and is left out."""
    deals = _closed(real_rows(opportunities, source, "opportunities"))
    created = _timestamps(deals["created_at"])
    if "engaged_at" in deals.columns:  # as the feature tables: engagement opens a deal
        created = created.fillna(_timestamps(deals["engaged_at"]))
    closed = _timestamps(deals["closed_at"])
    dated = created.notna() & closed.notna()
    if not dated.any():
        raise TrainingSetError(f"opportunities from {source!r}: no closed deal has both dates")
    parts = []
    for age in ages_days:
        at = created + pd.Timedelta(days=age) + _AFTER_EVENT
        keep = dated & (at < closed)
        parts.append(
            pd.DataFrame(
                {
                    "opportunity_id": deals.loc[keep, "opportunity_id"].astype(str),
                    "event_timestamp": at[keep],
                    "won": (deals.loc[keep, "outcome"] == "won").astype(int),
                    "closed_at": closed[keep],
                    "snapshot_age_days": age,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[ns, UTC]")
    return EntityFrame(service, source, "won", frame)


def attainment_entities(
    rep_daily: pd.DataFrame,
    rep_ids: Sequence[str],
    dataset: str,
    service: str,
    checkpoints: Sequence[float] = ATTAINMENT_CHECKPOINTS,
) -> EntityFrame:
    """Rep-months with a monthly quota whose month-end snapshot exists, at each
    checkpoint inside the month; label = the month's final attainment >= 1.

    The final attainment is the feature table's `attainment_mtd` at the next
    month's first midnight (that snapshot still covers the month: it counts
    events strictly before its as-of), i.e. the same crediting as the features.
    """
    wanted = rep_daily[rep_daily["rep_id"].astype(str).isin(set(map(str, rep_ids)))]
    wanted = wanted[wanted["quota_month_minor"].notna() & (wanted["quota_month_minor"] > 0)]
    as_of = _timestamps(wanted["event_timestamp"])
    month_end = wanted[(as_of.dt.day == 1).to_numpy()]
    if month_end.empty:
        raise TrainingSetError(f"attainment ({dataset}): no rep-month with a quota is complete")
    ends = _timestamps(month_end["event_timestamp"])
    months = (ends - pd.Timedelta(days=1)).dt.tz_localize(None).dt.to_period("M")
    labels = pd.DataFrame(
        {
            "rep_id": month_end["rep_id"].astype(str).to_numpy(),
            "period": months.astype(str).to_numpy(),
            "reached_quota": (month_end["attainment_mtd"].to_numpy(dtype="float64") >= 1.0).astype(
                int
            ),
        }
    )
    rows = []
    for fraction in checkpoints:
        periods = pd.PeriodIndex(labels["period"], freq="M")
        start = periods.start_time.tz_localize("UTC")
        days = np.rint(periods.days_in_month.to_numpy() * fraction).astype(int)
        rows.append(
            labels.assign(
                event_timestamp=start + pd.to_timedelta(days, unit="D"), checkpoint=fraction
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame["event_timestamp"] = frame["event_timestamp"].astype("datetime64[ns, UTC]")
    frame = frame.sort_values(["period", "rep_id", "checkpoint"]).reset_index(drop=True)
    return EntityFrame(service, dataset, "reached_quota", frame)


def training_set(
    entities: EntityFrame,
    data_dir: Path | str,
    config: str = "default",
    *,
    store: Any = None,
) -> pd.DataFrame:
    """The entity frame with the service's features joined point-in-time."""
    from features.feature_store import training_frame

    if entities.frame.empty:
        raise TrainingSetError(f"{entities.dataset}: no training rows for {entities.service}")
    frame = training_frame(
        entities.service, entities.frame, data_dir=data_dir, config=config, store=store
    )
    log.info("%s via %s: %d rows", entities.dataset, entities.service, len(frame))
    return frame


def read_feature_table(data_dir: Path | str, name: str) -> pd.DataFrame:
    """One built feature table from `<data_dir>/features/` (for labels)."""
    path = Path(data_dir) / "features" / f"{name}.parquet"
    if not path.is_file():
        raise TrainingSetError(f"{path}: feature table missing; run `spm features apply` first")
    return pd.read_parquet(path)


# Canonical `source` of each training dataset.
SOURCES: dict[str, str] = {
    "leads": "x_education",
    "ibm": "ibm_win_loss",
    "maven": "maven_crm",
    "adventureworks": "adventureworks_pl300",
}
# Training set key → the registered model it trains and that model's feature service.
SERVICES: dict[str, str] = {
    "lead_scoring": "lead_scoring_v1",
    "deal_risk": "deal_risk_v1",
    "attainment": "attainment_v2",
}
MODEL_OF: dict[str, str] = {
    "lead_scoring": "lead_scoring",
    "deal_risk_ibm": "deal_risk",
    "deal_risk_maven": "deal_risk",
    "attainment_adventureworks": "attainment",
    "attainment_maven": "attainment",
}
# The training set each registered model is trained on, best source first.
REGISTERED_SET: dict[str, tuple[str, ...]] = {
    "lead_scoring": ("lead_scoring",),
    "deal_risk": ("deal_risk_ibm",),
    "attainment": ("attainment_adventureworks", "attainment_maven"),
}


def _source_rep_ids(reps: pd.DataFrame, source: str) -> list[str]:
    rows = real_rows(reps, source, "reps")
    return rows["rep_id"].astype(str).tolist()


def entity_frames(
    tables: dict[str, pd.DataFrame],
    data_dir: Path | str,
    keys: Sequence[str] | None = None,
    *,
    strict: bool | None = None,
) -> dict[str, EntityFrame]:
    """Entity frames of the training sets named in `keys` (default: all that the
    data supports). A set that cannot be built is an error when `strict`
    (default: when `keys` names the sets), else skipped with a warning.
    AdventureWorks attainment needs the feature tables built with its territory
    crediting (`spm features apply --shared ...`); without it that set is
    skipped with a warning, as its targets are territory-based."""
    strict = keys is not None if strict is None else strict
    wanted = list(keys) if keys is not None else list(MODEL_OF)
    unknown = sorted(set(wanted) - set(MODEL_OF))
    if unknown:
        raise TrainingSetError(f"unknown training set(s) {unknown}; expected {sorted(MODEL_OF)}")
    out: dict[str, EntityFrame] = {}
    rep_daily: list[pd.DataFrame] = []  # read once, and only if an attainment set is built

    def rep_daily_stats() -> pd.DataFrame:
        if not rep_daily:
            rep_daily.append(read_feature_table(data_dir, "rep_daily_stats"))
        return rep_daily[0]

    builders = {
        "lead_scoring": lambda: lead_entities(
            tables["leads"], SOURCES["leads"], SERVICES["lead_scoring"]
        ),
        "deal_risk_ibm": lambda: deal_entities_at_close(
            tables["opportunities"], SOURCES["ibm"], SERVICES["deal_risk"]
        ),
        "deal_risk_maven": lambda: deal_entities_while_open(
            tables["opportunities"], SOURCES["maven"], SERVICES["deal_risk"]
        ),
        "attainment_adventureworks": lambda: attainment_entities(
            rep_daily_stats(),
            _source_rep_ids(tables["reps"], SOURCES["adventureworks"]),
            "adventureworks",
            SERVICES["attainment"],
        ),
        "attainment_maven": lambda: attainment_entities(
            rep_daily_stats(),
            _source_rep_ids(tables["reps"], SOURCES["maven"]),
            "maven_crm (derived quotas)",
            SERVICES["attainment"],
        ),
    }
    territory_sources = set(read_build_info(data_dir).get("territory_credited_sources", []))
    for key in wanted:
        if (
            key == "attainment_adventureworks"
            and SOURCES["adventureworks"] not in territory_sources
        ):
            log.warning(
                "attainment (adventureworks) skipped: feature tables were built without its "
                "territory assignments (run `spm features apply --shared DIR`)"
            )
            continue
        try:
            out[key] = builders[key]()
        except (TrainingSetError, KeyError) as exc:
            if strict:  # say why it cannot be built
                raise TrainingSetError(f"training set {key}: {exc}") from exc
            log.warning("training set %s skipped: %s", key, exc)
    return out


BUILD_INFO_FILE = "build.json"


def read_build_info(data_dir: Path | str) -> dict[str, Any]:
    """What the last feature build recorded (`features/build.json`), or {}."""
    import json

    path = Path(data_dir) / "features" / BUILD_INFO_FILE
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}
