"""Request-time feature arithmetic shared by Feast on-demand views and plain Python.

`days_since` is the single implementation: the on-demand feature views call
it through the frame-level helpers below, and callers outside Feast (a batch
job, a unit test, a fallback in serving) call the same functions.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400.0


def _utc(value: object) -> pd.Timestamp | pd.Series:
    """Timestamps (scalar or Series, naive = UTC, or epoch seconds) as UTC-aware."""
    if isinstance(value, pd.Series):
        if value.isna().all():
            return pd.Series(pd.NaT, index=value.index, dtype="datetime64[ns, UTC]")
        if pd.api.types.is_numeric_dtype(value.dtype) and not pd.api.types.is_bool_dtype(value):
            return pd.to_datetime(value, unit="s", utc=True).astype("datetime64[ns, UTC]")
        return pd.to_datetime(value, utc=True).astype("datetime64[ns, UTC]")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return pd.Timestamp(value, unit="s", tz="UTC")
    return (
        pd.Timestamp(value).tz_localize("UTC")
        if pd.Timestamp(value).tzinfo is None
        else (pd.Timestamp(value).tz_convert("UTC"))
    )


@overload
def days_since(ts: pd.Series, request_time: pd.Series | object) -> pd.Series: ...
@overload
def days_since(ts: object, request_time: object) -> float: ...
def days_since(ts: object, request_time: object) -> pd.Series | float:
    """Fractional days from `ts` to `request_time` (NaN when either is missing).

    Negative values are kept: they mean the request predates the event, which
    a point-in-time join never produces and a caller should notice.
    """
    if isinstance(ts, pd.Series) or isinstance(request_time, pd.Series):
        start = _utc(ts) if isinstance(ts, pd.Series) else None
        end = _utc(request_time) if isinstance(request_time, pd.Series) else None
        if start is None:
            assert isinstance(end, pd.Series)
            start = pd.Series(_scalar_or_nat(ts), index=end.index, dtype="datetime64[ns, UTC]")
        if end is None:
            end = pd.Series(
                _scalar_or_nat(request_time), index=start.index, dtype="datetime64[ns, UTC]"
            )
        # aligned by position, as Feast hands rows over
        delta = end.reset_index(drop=True) - start.reset_index(drop=True)
        seconds = pd.to_timedelta(delta).dt.total_seconds().to_numpy()
        return pd.Series(seconds / SECONDS_PER_DAY, index=start.index, dtype="float64")
    if _missing(ts) or _missing(request_time):
        return float("nan")
    return float((_utc(request_time) - _utc(ts)).total_seconds() / SECONDS_PER_DAY)


def _missing(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _scalar_or_nat(value: object) -> pd.Timestamp:
    return pd.NaT if _missing(value) else _utc(value)  # type: ignore[return-value]


def opportunity_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """`age_days` and `days_since_stage_change` at `request_time`."""
    out = pd.DataFrame(index=inputs.index)
    out["age_days"] = days_since(inputs["created_at"], inputs["request_time"])
    out["days_since_stage_change"] = days_since(
        inputs["last_stage_change_at"], inputs["request_time"]
    )
    return out


def lead_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """`lead_age_days` at `request_time`."""
    out = pd.DataFrame(index=inputs.index)
    out["lead_age_days"] = days_since(inputs["created_at"], inputs["request_time"])
    return out
