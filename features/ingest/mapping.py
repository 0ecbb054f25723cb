"""The mapping language: YAML that maps any CSV/Parquet export onto canonical tables.

See docs/importing.md for the full description and examples. In short:

    version: 1
    source: salesforce                  # written to every row's `source` column
    timezone: UTC                       # for timestamps without an offset
    files:
      - match: "Opportunity*.csv"       # glob on the file name
        read: {delimiter: ",", null_values: [""]}
        clean:                          # declared value fixes, recorded in the report
          - {columns: [StageName], replace: {"Closed Won ": "Closed Won"}}
        dedupe: {key: [Id]}             # later duplicates are rejected and reported
        outputs:
          - table: opportunities
            where: {IsDeleted: ["false"]}
            columns:
              opportunity_id: Id                        # shorthand for {from: Id}
              stage: {from: StageName, map: {Closed Won: won, ...}}
              amount: {from: Amount}                     # decimal: parsed from text
              closed_at: {from: CloseDate, format: "%Y-%m-%d"}
              currency: {value: USD}

Mappings are validated with pydantic; errors name the YAML key at fault.
"""

from __future__ import annotations

import string
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.ingest.dtypes import ATTR_PREFIX
from features.ingest.schema import CANONICAL_TABLES, ColumnType

ROW_NUMBER_FIELD = "_row"  # template field: the row number in the source file


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the YAML key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) and value != "*" else value


class ReadOptions(_Strict):
    """How to read the file. Every cell is read as text (never via float)."""

    format: Literal["csv", "parquet"] | None = Field(
        None, description="Default: from the file extension (.parquet, else csv)."
    )
    delimiter: str = Field(",", description="Field separator; `\\t` for tab-separated files.")
    header: bool = Field(True, description="False when the file has no header row.")
    columns: list[str] | None = Field(
        None, description="Column names for a file without a header row."
    )
    encoding: str = Field("utf-8-sig", description="Text encoding (a BOM is dropped).")
    null_values: list[str] = Field(
        default_factory=lambda: [""], description="Cell texts that mean missing (not reported)."
    )
    drop_columns: list[str] = Field(
        default_factory=list, description="Columns to ignore, e.g. an empty trailing one."
    )

    @model_validator(mode="after")
    def _header_or_names(self) -> ReadOptions:
        if not self.header and not self.columns:
            raise ValueError("a file without a header needs `columns` (the column names)")
        return self


class CleanRule(_Strict):
    """A declared value fix on source columns; every changed cell is reported."""

    columns: Annotated[list[str], Field(min_length=1)] | Literal["*"]
    replace: dict[str, str | None] = Field(
        default_factory=dict, description="Exact value → corrected value (null = missing)."
    )
    to_missing: list[str] = Field(
        default_factory=list, description="Placeholder values that mean 'not answered'."
    )
    reason: str | None = None

    _split = field_validator("columns", mode="before")(_as_list)

    @model_validator(mode="after")
    def _does_something(self) -> CleanRule:
        if not self.replace and not self.to_missing:
            raise ValueError("a clean rule needs `replace` or `to_missing`")
        return self


class Dedupe(_Strict):
    """Rows whose key repeats an earlier row are rejected (and reported)."""

    key: Annotated[list[str], Field(min_length=1)]
    reason: str | None = None

    _split = field_validator("key", mode="before")(_as_list)


class Lookup(_Strict):
    """Replace the value by a column of another input file, joined on a key."""

    file: str = Field(description="Glob matching exactly one of the input files.")
    key: str = Field(description="Column of that file holding this column's values.")
    value: str = Field(description="Column of that file to return.")
    missing: Literal["error", "null"] = Field(
        "error", description="A value not found: fail the import, or leave it empty."
    )
    multiple: Literal["error", "null"] = Field(
        "error",
        description="A key with several different values in that file: fail, or leave empty.",
    )


class ColumnSpec(_Strict):
    """How one canonical column is computed from a source row."""

    from_: str | None = Field(None, alias="from", description="Source column.")
    value: str | int | bool | None = Field(None, description="A constant (may be null).")
    template: str | None = Field(
        None,
        description="Python format string over source columns, e.g. `aw-{EmployeeKey}`; "
        "`{_row}` is the row number in the file.",
    )
    null_if: list[str] = Field(default_factory=list, description="Values that mean missing.")
    when: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Only rows whose columns have one of these values get a value; others null "
        "(e.g. a close date only for closed deals).",
    )
    lookup: Lookup | list[Lookup] | None = Field(
        None, description="One lookup, or a chain applied in order."
    )
    map: dict[str, str | None] | None = Field(None, description="Vocabulary: source → canonical.")
    unmapped: Literal["error", "keep", "null"] = Field(
        "error", description="What to do with a value the map does not list."
    )
    case: Literal["lower", "upper"] | None = None
    prefix: str | None = None
    multiply: str | None = Field(None, description="Exact factor for numbers, e.g. '1000'.")
    format: str | None = Field(
        None, description="strptime format of a date/timestamp; default ISO 8601."
    )
    timezone: str | None = Field(
        None, description="IANA zone of naive timestamps (default: the mapping's)."
    )
    to_period: Literal["month", "quarter", "year"] | None = Field(
        None, description="Turn a date into a calendar period key (2017-07, 2017-Q3, 2017)."
    )
    type: ColumnType | None = Field(
        None, description="Type of an `attr_` column (canonical columns use the schema's)."
    )
    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "y", "1", "t"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "n", "0", "f"])

    @model_validator(mode="after")
    def _one_source(self) -> ColumnSpec:
        given = [k for k in ("from_", "template") if getattr(self, k) is not None]
        if "value" in self.model_fields_set:
            given.append("value")
        if len(given) != 1:
            raise ValueError("give exactly one of `from`, `value` or `template`")
        if self.multiply is not None:
            try:
                Decimal(self.multiply)
            except InvalidOperation:
                raise ValueError(f"multiply {self.multiply!r} is not a decimal number") from None
        for zone in (self.timezone,):
            if zone is not None:
                _check_zone(zone)
        return self

    def source_columns(self) -> list[str]:
        """Source columns this spec reads (for the missing-column check)."""
        conditions = list(self.when)
        if self.from_ is not None:
            return [self.from_, *conditions]
        if self.template is not None:
            fields = [f for f in template_fields(self.template) if f != ROW_NUMBER_FIELD]
            return [*fields, *conditions]
        return conditions


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _check_zone(zone: str) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {zone!r} (use an IANA name like Europe/Paris)"
        ) from None


class Unpivot(_Strict):
    """Turn wide columns (e.g. months M01..M12) into rows: one per column."""

    columns: dict[str, str] = Field(description="Wide column → value of the new key column.")
    key: str = Field(description="Name of the new key column.")
    value: str = Field(description="Name of the new value column.")


class Output(_Strict):
    """One canonical table produced from the rows of a file."""

    table: str
    where: dict[str, list[str]] = Field(
        default_factory=dict, description="Keep rows whose column has one of these values."
    )
    where_not: dict[str, list[str]] = Field(
        default_factory=dict, description="Drop rows whose column has one of these values."
    )
    not_null: list[str] = Field(
        default_factory=list, description="Keep rows where these columns have a value."
    )
    unpivot: Unpivot | None = None
    distinct: list[str] | None = Field(
        None, description="One row per distinct value of these columns (first row wins)."
    )
    columns: dict[str, ColumnSpec]
    keep_other_columns: bool = Field(
        False, description="Carry every unused source column as `attr_<snake_case>`."
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"from": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        if value not in CANONICAL_TABLES:
            raise ValueError(f"unknown table {value!r}; known: {', '.join(CANONICAL_TABLES)}")
        return value

    @model_validator(mode="after")
    def _columns_fit_table(self) -> Output:
        table = CANONICAL_TABLES[self.table]
        for name in self.columns:
            if name not in table.column_names and not name.startswith(ATTR_PREFIX):
                raise ValueError(
                    f"column {name!r} is not in table {self.table}; "
                    f"extra data goes in `{ATTR_PREFIX}<name>` columns"
                )
        needed = [
            c.name
            for c in table.columns
            if c.required and not c.nullable and c.name not in ("source", "is_synthetic")
        ]
        missing = [n for n in needed if n not in self.columns]
        if missing:
            raise ValueError(f"table {self.table} needs column(s) {', '.join(missing)}")
        return self


class FileSpec(_Strict):
    """The input files matching `match` and the tables made from them."""

    match: str = Field(description="Glob on the file name, e.g. `sales_pipeline*.csv`.")
    optional: bool = Field(False, description="Do not fail when no input file matches.")
    read: ReadOptions = Field(default_factory=ReadOptions)
    clean: list[CleanRule] = Field(default_factory=list)
    dedupe: Dedupe | None = None
    outputs: list[Output] = Field(default_factory=list)


class StaticRows(_Strict):
    """Rows written as they are, e.g. the company root of the org hierarchy."""

    table: str
    rows: Annotated[list[dict[str, str | int | bool | None]], Field(min_length=1)]

    @field_validator("table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        return Output._known_table(value)


class Mapping(_Strict):
    """A whole mapping file."""

    version: Literal[1] = 1
    source: str = Field(
        min_length=1, description="Written to each row's `source` column; one per dataset."
    )
    description: str = ""
    timezone: str = Field("UTC", description="Zone of timestamps without an offset.")
    files: Annotated[list[FileSpec], Field(min_length=1)]
    static_rows: list[StaticRows] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="Copied into the quality report.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _check_zone(value)
        return value


def _format_location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_mapping(data: Any, origin: str = "<mapping>") -> Mapping:
    """Validate a mapping document (already loaded from YAML)."""
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith(("function-", "union[")))
            loc = tuple(p for p in loc if p not in ("str", "list[str]", "literal['*']"))
            problems.append(f"{origin}: {_format_location(loc)}: {err['msg']}")
        unique = list(dict.fromkeys(problems))
        raise MappingError("invalid mapping\n  " + "\n  ".join(unique)) from None


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping YAML file."""
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    return parse_mapping(data, origin=str(path))
