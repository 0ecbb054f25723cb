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
        # Integer nanoseconds in numpy: serving calls this once per request on a
        # handful of rows, where pandas' datetime machinery costs milliseconds.
        index = ts.index if isinstance(ts, pd.Series) else request_time.index  # type: ignore[union-attr]
        # aligned by position, as Feast hands rows over
        days = _days_between(ts, request_time, len(index))
        return pd.Series(days, index=index, dtype="float64")
    if _missing(ts) or _missing(request_time):
        return float("nan")
    return float((_utc(request_time) - _utc(ts)).total_seconds() / SECONDS_PER_DAY)


NS_PER_DAY = SECONDS_PER_DAY * 1e9
_NAT = np.iinfo(np.int64).min


def _epoch_ns(value: object, size: int) -> np.ndarray:
    """UTC nanoseconds since the epoch as int64 (NaT = `_NAT`), for a Series
    (tz-aware, naive = UTC, epoch seconds, or text) or a scalar broadcast to `size`."""
    if not isinstance(value, pd.Series):
        stamp = _scalar_or_nat(value)
        return np.full(size, _NAT if stamp is pd.NaT else stamp.as_unit("ns").value, dtype="int64")
    dtype = value.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return np.asarray(value.dt.as_unit("ns").array.asi8, dtype="int64")
    if pd.api.types.is_datetime64_dtype(dtype):
        return value.to_numpy().astype("datetime64[ns]").view("int64")
    if value.isna().all():
        return np.full(size, _NAT, dtype="int64")
    return np.asarray(_utc(value).dt.as_unit("ns").array.asi8, dtype="int64")


def _missing(value: object) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))


def _scalar_or_nat(value: object) -> pd.Timestamp:
    return pd.NaT if _missing(value) else _utc(value)  # type: ignore[return-value]


def _days_between(start: object, end: object, size: int) -> np.ndarray:
    """`days_since` as a plain float array (the frame helpers build one frame at the end)."""
    begin, finish = _epoch_ns(start, size), _epoch_ns(end, size)
    days = (finish - begin).astype("float64") / NS_PER_DAY
    days[(begin == _NAT) | (finish == _NAT)] = np.nan
    return days


def opportunity_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """`age_days` and `days_since_stage_change` at `request_time`."""
    size, now = len(inputs), inputs["request_time"]
    return pd.DataFrame(
        {
            "age_days": _days_between(inputs["created_at"], now, size),
            "days_since_stage_change": _days_between(inputs["last_stage_change_at"], now, size),
        },
        index=inputs.index,
    )


def lead_age_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """`lead_age_days` at `request_time`."""
    days = _days_between(inputs["created_at"], inputs["request_time"], len(inputs))
    return pd.DataFrame({"lead_age_days": days}, index=inputs.index)
