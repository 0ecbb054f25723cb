"""In-memory and on-disk types of the canonical tables.

One place decides how each `ColumnType` of `features.ingest.schema` looks as
a pandas column, a Parquet (Arrow) column and a PostgreSQL column, so that
every reader of the store gets the same frames whatever the backend:

| ColumnType | pandas                      | Parquet            | PostgreSQL       |
|------------|-----------------------------|--------------------|------------------|
| string     | `string` (pd.NA for null)   | string             | TEXT             |
| integer    | `Int64`                     | int64              | BIGINT           |
| float      | `float64` (NaN for null)    | double             | DOUBLE PRECISION |
| decimal    | `object` of `Decimal`/None  | decimal128(38, s)  | NUMERIC          |
| boolean    | `boolean`                   | bool               | BOOLEAN          |
| date       | `datetime64[ns]` (midnight) | date32             | DATE             |
| timestamp  | `datetime64[ns, UTC]`       | timestamp(us, UTC) | TIMESTAMPTZ      |
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from features.ingest.schema import CANONICAL_TABLES, ColumnType, Table

ATTR_PREFIX = "attr_"
#: Hidden provenance columns carried through an import, dropped before storage.
SOURCE_FILE_COL = "_src_file"
SOURCE_ROW_COL = "_src_row"
MAX_DECIMAL_SCALE = 18

_PANDAS_DTYPES: dict[ColumnType, Any] = {
    ColumnType.STRING: pd.StringDtype(),
    ColumnType.INTEGER: pd.Int64Dtype(),
    ColumnType.FLOAT: np.dtype("float64"),
    ColumnType.DECIMAL: np.dtype("object"),
    ColumnType.BOOLEAN: pd.BooleanDtype(),
    ColumnType.DATE: np.dtype("datetime64[ns]"),
    ColumnType.TIMESTAMP: pd.DatetimeTZDtype("ns", "UTC"),
}


def pandas_dtype(column_type: ColumnType) -> Any:
    """The pandas dtype a canonical column of this type has in memory."""
    return _PANDAS_DTYPES[column_type]


def canonical_table(name: str) -> Table:
    try:
        return CANONICAL_TABLES[name]
    except KeyError:
        raise KeyError(
            f"unknown canonical table {name!r}; known: {', '.join(CANONICAL_TABLES)}"
        ) from None


def is_attr_column(name: str) -> bool:
    return name.startswith(ATTR_PREFIX) and len(name) > len(ATTR_PREFIX)


def infer_column_type(series: pd.Series) -> ColumnType:
    """The ColumnType of an extension (`attr_`) column from its pandas dtype."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return ColumnType.TIMESTAMP
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return ColumnType.DATE
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnType.BOOLEAN
    if pd.api.types.is_integer_dtype(series.dtype):
        return ColumnType.INTEGER
    if pd.api.types.is_float_dtype(series.dtype):
        return ColumnType.FLOAT
    non_null = series.dropna()
    if len(non_null) and all(isinstance(v, Decimal) for v in non_null):
        return ColumnType.DECIMAL
    return ColumnType.STRING


def empty_frame(table: Table | str) -> pd.DataFrame:
    """A zero-row frame with every column of the table in its canonical dtype."""
    t = canonical_table(table) if isinstance(table, str) else table
    return pd.DataFrame({c.name: pd.Series([], dtype=pandas_dtype(c.type)) for c in t.columns})


def _to_decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | np.integer):
        return Decimal(int(value))
    if isinstance(value, str):
        return Decimal(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) is not an exact decimal")


def coerce_series(series: pd.Series, column_type: ColumnType) -> pd.Series:
    """Cast already-parsed values to the canonical dtype (not a text parser)."""
    if column_type is ColumnType.DECIMAL:
        if pd.api.types.infer_dtype(series, skipna=True) in ("decimal", "empty"):
            # Already Decimals (the common case when re-conforming): only unify nulls.
            return series.astype(object).where(series.notna(), None)
        return pd.Series([_to_decimal_or_none(v) for v in series], index=series.index, dtype=object)
    if column_type is ColumnType.DATE:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values = pd.to_datetime(series.astype(object).where(series.notna(), None))
        return values.dt.normalize().astype("datetime64[ns]")
    if column_type is ColumnType.TIMESTAMP:
        values = pd.to_datetime(series, utc=True)
        return values.astype("datetime64[ns, UTC]")
    if column_type is ColumnType.BOOLEAN:
        return series.astype(object).where(series.notna(), None).astype(pd.BooleanDtype())
    if column_type is ColumnType.INTEGER:
        return series.astype(pd.Int64Dtype())
    if column_type is ColumnType.FLOAT:
        return pd.to_numeric(series.astype(object).where(series.notna(), np.nan)).astype("float64")
    return series.astype(object).where(series.notna(), None).astype(pd.StringDtype())


def conform_frame(
    df: pd.DataFrame,
    table: Table | str,
    *,
    keep_hidden: bool = False,
    attr_types: dict[str, ColumnType] | None = None,
) -> pd.DataFrame:
    """Canonical column order and dtypes: schema columns first (optional ones
    added as all-null when absent), then `attr_` columns sorted by name, typed
    by `attr_types` (what a store recorded) or else inferred from the values.

    Raises KeyError on a column that is neither canonical nor `attr_`.
    """
    t = canonical_table(table) if isinstance(table, str) else table
    hidden = [SOURCE_FILE_COL, SOURCE_ROW_COL] if keep_hidden else []
    unknown = [
        c
        for c in df.columns
        if c not in t.column_names and not is_attr_column(c) and c not in hidden
    ]
    if unknown:
        raise KeyError(
            f"table {t.name}: columns {unknown} are not canonical; "
            f"carry extra data as `{ATTR_PREFIX}<name>` columns"
        )
    out: dict[str, pd.Series] = {}
    for col in t.columns:
        if col.name in df.columns:
            out[col.name] = coerce_series(df[col.name], col.type)
        else:
            out[col.name] = pd.Series([None] * len(df), index=df.index, dtype=object).pipe(
                coerce_series, col.type
            )
    for name in sorted(c for c in df.columns if is_attr_column(c)):
        known = (attr_types or {}).get(name)
        out[name] = coerce_series(df[name], known or infer_column_type(df[name]))
    for name in hidden:
        if name in df.columns:
            out[name] = df[name]
    frame = pd.DataFrame(out, index=df.index)
    return frame.reset_index(drop=True)


def column_type_of_arrow(arrow_type: Any) -> ColumnType:
    """The ColumnType an Arrow (Parquet) column type stands for."""
    import pyarrow as pa

    if pa.types.is_decimal(arrow_type):
        return ColumnType.DECIMAL
    if pa.types.is_timestamp(arrow_type):
        return ColumnType.TIMESTAMP if arrow_type.tz else ColumnType.DATE
    if pa.types.is_date(arrow_type):
        return ColumnType.DATE
    if pa.types.is_boolean(arrow_type):
        return ColumnType.BOOLEAN
    if pa.types.is_integer(arrow_type):
        return ColumnType.INTEGER
    if pa.types.is_floating(arrow_type):
        return ColumnType.FLOAT
    return ColumnType.STRING


def decimal_scale(values: pd.Series) -> int:
    """Smallest Arrow scale that holds every Decimal of the column exactly."""
    scale = 0
    for v in values:
        if isinstance(v, Decimal):
            exponent = v.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > scale:
                scale = -exponent
    if scale > MAX_DECIMAL_SCALE:
        raise ValueError(f"decimal scale {scale} exceeds the supported {MAX_DECIMAL_SCALE}")
    return scale


def python_values(series: pd.Series, column_type: ColumnType) -> list[Any]:
    """A column as the plain Python values a database driver expects (None for missing)."""
    missing = series.isna().tolist()
    if column_type is ColumnType.DATE:
        values = series.dt.date.tolist()
    elif column_type is ColumnType.TIMESTAMP:
        values = series.astype(object).tolist()  # pd.Timestamp is a datetime
    elif column_type is ColumnType.INTEGER:
        values = [int(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif column_type is ColumnType.BOOLEAN:
        values = [bool(v) if not m else None for v, m in zip(series.tolist(), missing, strict=True)]
    elif column_type is ColumnType.FLOAT:
        values = [float(v) for v in series.tolist()]
    else:  # strings and Decimals are already Python objects
        values = series.astype(object).tolist()
    return [None if m else v for v, m in zip(values, missing, strict=True)]
