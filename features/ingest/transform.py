"""Apply a mapping to input files: read as text, clean, dedupe, derive canonical tables.

Pure with respect to the store: returns typed canonical frames (with hidden
provenance columns `_src_file`/`_src_row`), the source report (fixes and
rejections) and every issue found. Nothing stops at the first problem.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

from features.ingest.dtypes import (
    ATTR_PREFIX,
    SOURCE_FILE_COL,
    SOURCE_ROW_COL,
    conform_frame,
)
from features.ingest.mapping import (
    ROW_NUMBER_FIELD,
    ColumnSpec,
    FileSpec,
    Lookup,
    Mapping,
    Output,
    ReadOptions,
    template_fields,
)
from features.ingest.quality import Fix, Issue, Rejection, SourceReport
from features.ingest.schema import CANONICAL_TABLES, ColumnType

log = logging.getLogger(__name__)

_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_OFFSET_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class SourceFile:
    """One input file read as text: `frame` holds str or None, plus `_src_row`."""

    path: Path
    spec: FileSpec
    frame: pd.DataFrame

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != SOURCE_ROW_COL]


@dataclass
class TransformResult:
    tables: dict[str, pd.DataFrame]
    report: SourceReport
    issues: list[Issue] = field(default_factory=list)


def snake_case(name: str) -> str:
    """`Total Time Spent on Website` → `total_time_spent_on_website`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


# ------------------------------------------------------------------ reading


def read_source(path: Path, options: ReadOptions) -> tuple[pd.DataFrame, list[Issue]]:
    """Read every cell as text (amounts are never parsed through float)."""
    name = path.name
    fmt = options.format or ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            frame = frame.astype(object).map(lambda v: None if pd.isna(v) else str(v))
            first_row = 1
        else:
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                sep=options.delimiter,
                header=0 if options.header else None,
                encoding=options.encoding,
                index_col=False,
                quotechar='"',
            )
            first_row = 2 if options.header else 1
    except FileNotFoundError:
        return pd.DataFrame(), [Issue("file does not exist", file=name)]
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
        return pd.DataFrame(), [Issue(f"cannot read the file: {exc}", file=name)]
    if not options.header and options.columns is not None:
        if len(frame.columns) != len(options.columns):
            return pd.DataFrame(), [
                Issue(
                    f"has {len(frame.columns)} columns but the mapping names {len(options.columns)}",
                    file=name,
                    row=1,
                )
            ]
        frame.columns = options.columns
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.drop(columns=[c for c in options.drop_columns if c in frame.columns])
    nulls = set(options.null_values)
    frame = frame.astype(object)
    frame = frame.where(frame.notna() & ~frame.isin(list(nulls)), None)
    frame[SOURCE_ROW_COL] = range(first_row, first_row + len(frame))
    return frame.reset_index(drop=True), []


def _missing_columns(source: SourceFile, needed: Sequence[str], where: str) -> list[Issue]:
    present = set(source.columns)
    return [
        Issue(f"missing column (needed by {where})", file=source.name, row=1, column=c)
        for c in dict.fromkeys(needed)
        if c not in present
    ]


def apply_clean_rules(source: SourceFile, report: SourceReport) -> list[Issue]:
    issues: list[Issue] = []
    for index, rule in enumerate(source.spec.clean):
        columns = source.columns if rule.columns == "*" else rule.columns
        found = _missing_columns(source, columns, f"clean[{index}]")
        issues += found
        fixes: dict[str | None, str | None] = dict(rule.replace)
        fixes.update({v: None for v in rule.to_missing})
        why = rule.reason or ("placeholder means missing" if rule.to_missing else "declared fix")
        for column in columns:
            if column not in source.frame:
                continue
            values = source.frame[column]
            for original, replacement in fixes.items():
                hit = values == original
                if hit.any():
                    rows = tuple(int(r) for r in source.frame.loc[hit, SOURCE_ROW_COL])
                    report.fixes.append(
                        Fix(source.name, column, str(original), replacement, why, rows)
                    )
                    source.frame.loc[hit, column] = replacement
    return issues


def apply_dedupe(source: SourceFile, report: SourceReport) -> list[Issue]:
    rule = source.spec.dedupe
    if rule is None:
        return []
    issues = _missing_columns(source, rule.key, "dedupe")
    if issues:
        return issues
    frame = source.frame
    data_columns = source.columns
    duplicated = frame.duplicated(subset=rule.key, keep="first")
    if not duplicated.any():
        return []
    first_row: dict[tuple[Any, ...], int] = {}
    seen_rows: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
    for row, key, values in zip(
        frame[SOURCE_ROW_COL],
        frame[rule.key].itertuples(index=False, name=None),
        frame[data_columns].itertuples(index=False, name=None),
        strict=True,
    ):
        if key not in first_row:
            first_row[key], seen_rows[key] = int(row), {values}
            continue
        exact = values in seen_rows[key]
        seen_rows[key].add(values)
        same = "exact duplicate" if exact else "same key, other values differ"
        reason = f"duplicate {', '.join(rule.key)} of row {first_row[key]} ({same}); first kept"
        if rule.reason:
            reason += f": {rule.reason}"
        report.rejections.append(
            Rejection(
                source.name,
                int(row),
                reason,
                column=", ".join(rule.key),
                value=", ".join("" if k is None else str(k) for k in key),
            )
        )
    source.frame = frame[~duplicated].reset_index(drop=True)
    return []


# ------------------------------------------------------------ evaluation


class _Evaluator:
    """Computes typed canonical columns from the text rows of one file."""

    def __init__(
        self, mapping: Mapping, source: SourceFile, sources: Sequence[SourceFile], what: str
    ) -> None:
        self.mapping = mapping
        self.source = source
        self.sources = sources
        self.what = what
        self.issues: list[Issue] = []

    def _issue(self, rows: pd.Series, column: str, values: pd.Series, reason: str) -> None:
        for row, value in zip(rows, values, strict=True):
            self.issues.append(
                Issue(
                    reason,
                    file=self.source.name,
                    row=int(row),
                    column=column,
                    value=None if value is None else str(value),
                )
            )

    def raw(self, frame: pd.DataFrame, spec: ColumnSpec) -> pd.Series:
        if spec.from_ is not None:
            return frame[spec.from_].astype(object)
        if spec.template is not None:
            fields = template_fields(spec.template)
            records = frame.assign(**{ROW_NUMBER_FIELD: frame[SOURCE_ROW_COL]})[fields]
            values = [
                None
                if any(v is None for v in rec)
                else spec.template.format(**dict(zip(fields, rec, strict=True)))
                for rec in records.itertuples(index=False, name=None)
            ]
            return pd.Series(values, index=frame.index, dtype=object)
        constant = spec.value
        if isinstance(constant, bool):
            constant = "true" if constant else "false"
        text = None if constant is None else str(constant)
        return pd.Series([text] * len(frame), index=frame.index, dtype=object)

    def _lookup(
        self, frame: pd.DataFrame, column: str, lookup: Lookup, values: pd.Series
    ) -> pd.Series:
        matches = [s for s in self.sources if fnmatch.fnmatch(s.name, lookup.file)]
        if len(matches) != 1:
            self.issues.append(
                Issue(
                    f"lookup file {lookup.file!r} matches {len(matches)} input files, expected 1",
                    file=self.source.name,
                    column=column,
                )
            )
            return pd.Series([None] * len(values), index=values.index, dtype=object)
        other = matches[0]
        missing_cols = _missing_columns(other, [lookup.key, lookup.value], f"lookup of {column}")
        if missing_cols:
            self.issues += missing_cols
            return pd.Series([None] * len(values), index=values.index, dtype=object)
        pairs = other.frame[[lookup.key, lookup.value]].dropna(subset=[lookup.key])
        distinct = pairs.drop_duplicates()
        ambiguous = set(distinct.loc[distinct[lookup.key].duplicated(), lookup.key])
        table: dict[str, Any] = dict(zip(distinct[lookup.key], distinct[lookup.value], strict=True))
        hit_ambiguous = values.isin(list(ambiguous))
        if ambiguous and lookup.multiple == "error" and hit_ambiguous.any():
            self._issue(
                frame.loc[hit_ambiguous, SOURCE_ROW_COL],
                column,
                values[hit_ambiguous],
                f"has several different {lookup.value} values in {other.name}",
            )
        result = values.map(lambda v: None if v is None or v in ambiguous else table.get(v))
        unmatched = values.notna() & ~values.isin(list(table))
        if lookup.missing == "error" and unmatched.any():
            self._issue(
                frame.loc[unmatched, SOURCE_ROW_COL],
                column,
                values[unmatched],
                f"not found in {other.name} column {lookup.key}",
            )
        return result

    def text_values(self, frame: pd.DataFrame, column: str, spec: ColumnSpec) -> pd.Series:
        values = self.raw(frame, spec)
        if spec.null_if:
            values = values.where(~values.isin(spec.null_if), None)
        lookups = [spec.lookup] if isinstance(spec.lookup, Lookup) else spec.lookup or []
        for lookup in lookups:
            values = self._lookup(frame, column, lookup, values)
        if spec.map is not None:
            vocabulary = spec.map
            known = values.isna() | values.isin(list(vocabulary))
            if spec.unmapped == "error" and not known.all():
                self._issue(
                    frame.loc[~known, SOURCE_ROW_COL],
                    column,
                    values[~known],
                    f"value not in the mapping's value map ({', '.join(map(str, vocabulary))})",
                )
            fallback = spec.unmapped == "keep"
            values = values.map(
                lambda v: None if v is None else vocabulary.get(v, v if fallback else None)
            )
        if spec.case == "lower":
            values = values.map(lambda v: None if v is None else v.lower())
        elif spec.case == "upper":
            values = values.map(lambda v: None if v is None else v.upper())
        if spec.prefix:
            prefix = spec.prefix
            values = values.map(lambda v: None if v is None else prefix + v)
        for condition, accepted in spec.when.items():
            values = values.where(frame[condition].isin(accepted), None)
        return values

    def typed(
        self, frame: pd.DataFrame, column: str, spec: ColumnSpec, column_type: ColumnType
    ) -> pd.Series:
        values = self.text_values(frame, column, spec)
        rows = frame[SOURCE_ROW_COL]
        if spec.to_period is not None:
            dates = self._parse_datetimes(values, rows, column, spec, aware=False)
            return self._period_keys(dates, spec.to_period)
        match column_type:
            case ColumnType.STRING:
                return values
            case ColumnType.DECIMAL:
                return self._parse_decimals(values, rows, column, spec)
            case ColumnType.INTEGER:
                exact = self._parse_decimals(values, rows, column, spec, what="an integer")
                bad = exact.map(lambda v: v is not None and v != v.to_integral_value())
                if bad.any():
                    self._issue(rows[bad], column, values[bad], "not an integer")
                integral = exact.where(~bad, None)
                return integral.map(lambda v: None if v is None else int(v)).astype("Int64")
            case ColumnType.FLOAT:
                if spec.multiply is not None:  # exact scaling first, then the float
                    exact = self._parse_decimals(values, rows, column, spec, what="a number")
                    return exact.map(lambda v: float("nan") if v is None else float(v)).astype(
                        "float64"
                    )
                numbers = pd.to_numeric(values, errors="coerce").astype("float64")
                bad = values.notna() & numbers.isna()
                if bad.any():
                    self._issue(rows[bad], column, values[bad], "not a number")
                return numbers
            case ColumnType.BOOLEAN:
                truthy = {v.lower() for v in spec.true_values}
                falsy = {v.lower() for v in spec.false_values}
                lowered = values.map(lambda v: None if v is None else v.strip().lower())
                bad = lowered.notna() & ~lowered.isin(truthy | falsy)
                if bad.any():
                    self._issue(
                        rows[bad],
                        column,
                        values[bad],
                        f"not a boolean (true: {', '.join(spec.true_values)}; "
                        f"false: {', '.join(spec.false_values)})",
                    )
                return lowered.map(
                    lambda v: None if v is None or v not in truthy | falsy else v in truthy
                ).astype("boolean")
            case ColumnType.DATE:
                return self._parse_datetimes(values, rows, column, spec, aware=False)
            case ColumnType.TIMESTAMP:
                return self._parse_datetimes(values, rows, column, spec, aware=True)
        raise AssertionError(column_type)

    def _parse_decimals(
        self,
        values: pd.Series,
        rows: pd.Series,
        column: str,
        spec: ColumnSpec,
        what: str = "a decimal amount",
    ) -> pd.Series:
        factor = Decimal(spec.multiply) if spec.multiply is not None else None
        parsed_by_text: dict[str, Decimal | None] = {}
        for text in set(values.dropna()):
            parsed_by_text[text] = _parse_decimal_text(text, factor)
        parsed = values.map(lambda v: None if v is None else parsed_by_text[v])
        bad = values.notna() & parsed.isna()
        if bad.any():
            self._issue(rows[bad], column, values[bad], f"not {what}")
        return parsed.astype(object).where(parsed.notna(), None)

    def _parse_datetimes(
        self, values: pd.Series, rows: pd.Series, column: str, spec: ColumnSpec, *, aware: bool
    ) -> pd.Series:
        fmt = spec.format or "ISO8601"
        text = values.map(lambda v: None if v is None else v.strip())
        # Values with an explicit offset are exact instants; the others are wall-clock
        # times in the mapping's zone. Parse the two groups separately.
        has_offset = text.map(lambda v: v is not None and bool(_OFFSET_SUFFIX.search(v)))
        naive = pd.to_datetime(text.where(~has_offset, None), format=fmt, errors="coerce")
        if isinstance(naive.dtype, pd.DatetimeTZDtype):  # a %z format: all have offsets
            naive = naive.dt.tz_convert("UTC").dt.tz_localize(None)
        instants = pd.to_datetime(
            text.where(has_offset, None), format=fmt, errors="coerce", utc=True
        )
        bad = text.notna() & naive.isna() & instants.isna()
        if bad.any():
            expected = spec.format or "ISO 8601, e.g. 2024-01-31"
            self._issue(rows[bad], column, values[bad], f"not a date/time in the format {expected}")
        zone = spec.timezone or self.mapping.timezone
        localized = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        gap = naive.notna() & localized.isna()
        if gap.any():
            self._issue(
                rows[gap], column, values[gap], f"ambiguous or non-existent local time in {zone}"
            )
        utc = localized.dt.tz_convert("UTC").where(~has_offset, instants)
        if aware:
            return utc.astype("datetime64[ns, UTC]")
        # A date from a timestamp with an offset is its calendar date in the mapping's zone.
        local = naive.where(~has_offset, instants.dt.tz_convert(zone).dt.tz_localize(None))
        return local.dt.normalize().astype("datetime64[ns]")

    @staticmethod
    def _period_keys(dates: pd.Series, kind: str) -> pd.Series:
        def key(value: Any) -> str | None:
            if pd.isna(value):
                return None
            if kind == "month":
                return f"{value.year:04d}-{value.month:02d}"
            if kind == "quarter":
                return f"{value.year:04d}-Q{(value.month - 1) // 3 + 1}"
            return f"{value.year:04d}"

        return pd.Series([key(v) for v in dates], index=dates.index, dtype=object)


def _parse_decimal_text(text: str, factor: Decimal | None) -> Decimal | None:
    """An exact decimal from plain number text (no NaN, Infinity, `1_000`)."""
    stripped = text.strip()
    if not _FLOAT_TEXT.match(stripped):
        return None
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        return None
    return number * factor if factor is not None else number


def _infer_text_type(values: pd.Series) -> ColumnType:
    """Type of a carried-over column: integer or float when every value is one."""
    present = pd.Series(values.dropna().unique(), dtype=object)
    if not len(present):
        return ColumnType.STRING
    text = present.astype(str).str.strip()
    if text.str.fullmatch(_INTEGER_TEXT.pattern).all():
        return ColumnType.INTEGER
    if text.str.fullmatch(_FLOAT_TEXT.pattern).all():
        return ColumnType.FLOAT
    return ColumnType.STRING


def _used_columns(output: Output) -> set[str]:
    used = set(output.where) | set(output.where_not) | set(output.not_null)
    used |= set(output.distinct or [])
    for spec in output.columns.values():
        used |= set(spec.source_columns())
    if output.unpivot:
        used |= set(output.unpivot.columns)
    return used


def _select_rows(
    source: SourceFile, output: Output, index: int
) -> tuple[pd.DataFrame, list[Issue]]:
    frame = source.frame
    where = f"outputs[{index}] ({output.table})"
    needed = [*output.where, *output.where_not, *output.not_null, *(output.distinct or [])]
    needed += [c for s in output.columns.values() for c in s.source_columns()]
    if output.unpivot:
        needed += list(output.unpivot.columns)
        needed = [c for c in needed if c not in (output.unpivot.key, output.unpivot.value)]
    issues = _missing_columns(source, needed, where)
    if issues:
        return frame.iloc[0:0], issues
    keep = pd.Series(True, index=frame.index)
    for column, allowed in output.where.items():
        keep &= frame[column].isin(allowed)
    for column, refused in output.where_not.items():
        keep &= ~frame[column].isin(refused)
    frame = frame[keep]
    if output.unpivot:
        spec = output.unpivot
        wide = list(spec.columns)
        others = [c for c in frame.columns if c not in wide]
        long = frame.melt(id_vars=others, value_vars=wide, var_name=spec.key, value_name=spec.value)
        long[spec.key] = long[spec.key].map(spec.columns)
        frame = long.sort_values([SOURCE_ROW_COL, spec.key], kind="stable").reset_index(drop=True)
    for column in output.not_null:
        frame = frame[frame[column].notna()]
    if output.distinct:
        frame = frame.dropna(subset=output.distinct)
        frame = frame.drop_duplicates(subset=output.distinct, keep="first")
    return frame, []


def _distinct_conflicts(source: SourceFile, output: Output, selected: pd.DataFrame) -> str | None:
    if not output.distinct:
        return None
    other = sorted(
        _used_columns(output) - set(output.distinct) - {*output.where, *output.where_not}
    )
    other = [c for c in other if c in source.frame.columns]
    if not other:
        return None
    base = source.frame.dropna(subset=output.distinct)
    counts = base.groupby(output.distinct, dropna=True)[other].nunique(dropna=False)
    conflicting = counts[(counts > 1).any(axis=1)]
    if conflicting.empty:
        return None
    examples = ", ".join(str(k) for k in list(conflicting.index)[:5])
    return (
        f"{output.table} from {source.name}: {len(conflicting)} distinct "
        f"{'/'.join(output.distinct)} value(s) have differing {', '.join(other)}; the first row's "
        f"values were kept (e.g. {examples})"
    )


def build_output(
    mapping: Mapping,
    source: SourceFile,
    sources: Sequence[SourceFile],
    output: Output,
    index: int,
    report: SourceReport,
) -> tuple[pd.DataFrame, list[Issue]]:
    frame, issues = _select_rows(source, output, index)
    if issues:
        return frame, issues
    note = _distinct_conflicts(source, output, frame)
    if note:
        report.notes.append(note)
    table = CANONICAL_TABLES[output.table]
    evaluator = _Evaluator(mapping, source, sources, f"outputs[{index}]")
    columns: dict[str, pd.Series] = {}
    for name, spec in output.columns.items():
        if name in table.column_names:
            column_type = table.column(name).type
        else:
            column_type = spec.type or ColumnType.STRING
        columns[name] = evaluator.typed(frame, name, spec, column_type)
    if output.keep_other_columns:
        used = _used_columns(output)
        for original in source.columns:
            if original in used:
                continue
            attr = ATTR_PREFIX + snake_case(original)
            if attr in columns:
                continue
            values = frame[original].astype(object)
            column_type = _infer_text_type(values)
            columns[attr] = evaluator.typed(
                frame, attr, ColumnSpec.model_validate({"from": original}), column_type
            )
    result = pd.DataFrame(columns, index=frame.index)
    if "source" not in result:
        result["source"] = mapping.source
    if "is_synthetic" not in result:
        result["is_synthetic"] = False
    result[SOURCE_FILE_COL] = source.name
    result[SOURCE_ROW_COL] = frame[SOURCE_ROW_COL].astype(int)
    return result, evaluator.issues


def _static_frames(
    mapping: Mapping, origin: str
) -> tuple[dict[str, list[pd.DataFrame]], list[Issue]]:
    frames: dict[str, list[pd.DataFrame]] = {}
    issues: list[Issue] = []
    for block_index, block in enumerate(mapping.static_rows):
        columns = sorted({k for row in block.rows for k in row})
        texts = pd.DataFrame(
            [
                {
                    k: None
                    if row.get(k) is None
                    else ("true" if row[k] is True else "false" if row[k] is False else str(row[k]))
                    for k in columns
                }
                for row in block.rows
            ]
        )
        texts[SOURCE_ROW_COL] = range(1, len(texts) + 1)
        spec = FileSpec(match=f"static_rows[{block_index}]")
        source = SourceFile(Path(f"{origin}#static_rows[{block_index}]"), spec, texts)
        try:
            output = Output.model_validate(
                {"table": block.table, "columns": {c: {"from": c} for c in columns}}
            )
        except ValueError as exc:
            issues.append(Issue(f"static_rows[{block_index}]: {exc}", file=origin))
            continue
        frame, found = build_output(mapping, source, [], output, block_index, SourceReport("", ""))
        issues += found
        frames.setdefault(block.table, []).append(frame)
    return frames, issues


def match_files(
    mapping: Mapping, paths: Sequence[Path]
) -> tuple[list[tuple[Path, FileSpec]], list[Issue]]:
    """Pair each input file with the first file entry whose glob matches it."""
    pairs: list[tuple[Path, FileSpec]] = []
    issues: list[Issue] = []
    used: set[int] = set()
    for path in paths:
        for index, spec in enumerate(mapping.files):
            if fnmatch.fnmatch(path.name, spec.match):
                pairs.append((path, spec))
                used.add(index)
                break
        else:
            globs = ", ".join(s.match for s in mapping.files)
            issues.append(
                Issue(f"no entry of the mapping matches this file (globs: {globs})", file=path.name)
            )
    for index, spec in enumerate(mapping.files):
        if index not in used and not spec.optional:
            issues.append(Issue(f"no input file matches files[{index}].match {spec.match!r}"))
    return pairs, issues


def transform(
    mapping: Mapping, paths: Sequence[Path], mapping_name: str = "<mapping>"
) -> TransformResult:
    """Run a mapping over input files. Always returns; check `issues`."""
    report = SourceReport(source=mapping.source, mapping=mapping_name, notes=list(mapping.notes))
    pairs, issues = match_files(mapping, [Path(p) for p in paths])
    sources: list[SourceFile] = []
    for path, spec in pairs:
        frame, found = read_source(path, spec.read)
        issues += found
        if found:
            continue
        report.files[path.name] = len(frame)
        source = SourceFile(path, spec, frame)
        issues += apply_clean_rules(source, report)
        issues += apply_dedupe(source, report)
        sources.append(source)
    collected, static_issues = _static_frames(mapping, mapping_name)
    issues += static_issues
    for source in sources:
        for index, output in enumerate(source.spec.outputs):
            frame, found = build_output(mapping, source, sources, output, index, report)
            issues += found
            if not found:
                collected.setdefault(output.table, []).append(frame)
    tables: dict[str, pd.DataFrame] = {}
    for name, frames in collected.items():
        combined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        tables[name] = conform_frame(combined, name, keep_hidden=True)
        report.rows_out[name] = len(tables[name])
    log.info(
        "mapping %s: %s", mapping.source, ", ".join(f"{t}={n}" for t, n in report.rows_out.items())
    )
    return TransformResult(tables, report, issues)
