"""The data-quality report of an import: every fix, every rejected row, every failure.

Three kinds of entries, each naming file, row, column, value and reason:

- `Fix`: a value-cleaning rule the mapping declares (`GTXPro` → `GTX Pro`,
  `Select` → missing) and the source rows it changed. The import goes on.
- `Rejection`: a row dropped by a rule the mapping declares (e.g. IBM's
  duplicated opportunity numbers). The import goes on; the row is listed.
- `Issue`: anything else that is wrong (missing column, unparseable date or
  amount, duplicate id, unknown currency, broken reference, cycle, ...).
  Any issue fails the whole import and nothing is written.

Row numbers are line numbers in the source file as a spreadsheet shows them:
the header is row 1, so the first data row of a CSV with a header is row 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_ROWS_LISTED_IN_MARKDOWN = 10
MAX_ISSUES_IN_MESSAGE = 20


def _where(file: str | None, row: int | None, column: str | None, table: str | None) -> str:
    parts = []
    if file:
        parts.append(f"file {file}")
    elif table:
        parts.append(f"table {table}")
    if row is not None:
        parts.append(f"row {row}")
    if column:
        parts.append(f"column {column}")
    return ", ".join(parts) if parts else "import"


@dataclass(frozen=True)
class Issue:
    """A problem that fails the import."""

    reason: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    table: str | None = None

    def describe(self) -> str:
        value = f" value {self.value!r}:" if self.value is not None else ""
        return f"{_where(self.file, self.row, self.column, self.table)}:{value} {self.reason}"


@dataclass(frozen=True)
class Fix:
    """A declared cleaning rule applied to some rows of one column."""

    file: str
    column: str
    original: str
    replacement: str | None
    rule: str
    rows: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Rejection:
    """A source row dropped by a declared rule."""

    file: str
    row: int
    reason: str
    column: str | None = None
    value: str | None = None


class ImportValidationError(ValueError):
    """The input failed validation; nothing was written. Lists every issue."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        shown = [i.describe() for i in self.issues[:MAX_ISSUES_IN_MESSAGE]]
        more = len(self.issues) - len(shown)
        tail = f"\n  ... and {more} more issue(s)" if more > 0 else ""
        noun = "issue" if len(self.issues) == 1 else "issues"
        super().__init__(
            f"import failed with {len(self.issues)} {noun}; nothing was written:\n  "
            + "\n  ".join(shown)
            + tail
        )


@dataclass
class SourceReport:
    """What one import (one mapping over its files) did."""

    source: str
    mapping: str
    files: dict[str, int] = field(default_factory=dict)  # file -> data rows read
    rows_out: dict[str, int] = field(default_factory=dict)  # table -> rows produced
    fixes: list[Fix] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fixes"] = [{**asdict(f), "rows": list(f.rows), "count": f.count} for f in self.fixes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceReport:
        return cls(
            source=data["source"],
            mapping=data["mapping"],
            files=dict(data.get("files", {})),
            rows_out=dict(data.get("rows_out", {})),
            fixes=[
                Fix(
                    file=f["file"],
                    column=f["column"],
                    original=f["original"],
                    replacement=f["replacement"],
                    rule=f["rule"],
                    rows=tuple(f["rows"]),
                )
                for f in data.get("fixes", [])
            ],
            rejections=[Rejection(**r) for r in data.get("rejections", [])],
            notes=list(data.get("notes", [])),
        )


@dataclass
class QualityReport:
    """Reports of the imports whose data is in the store, one per source."""

    sources: dict[str, SourceReport] = field(default_factory=dict)

    def merge(self, reports: Iterable[SourceReport]) -> QualityReport:
        """A new report in which these sources replace their earlier entries."""
        merged = dict(self.sources)
        for report in reports:
            merged[report.source] = report
        return QualityReport(merged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": {name: r.to_dict() for name, r in sorted(self.sources.items())},
            "totals": {
                "fixed_values": sum(f.count for r in self.sources.values() for f in r.fixes),
                "rejected_rows": sum(len(r.rejections) for r in self.sources.values()),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> QualityReport:
        if not data:
            return cls()
        return cls({name: SourceReport.from_dict(r) for name, r in data.get("sources", {}).items()})

    def to_markdown(self) -> str:
        lines = ["# Data-quality report", ""]
        totals = self.to_dict()["totals"]
        lines.append(
            f"{len(self.sources)} source(s); {totals['fixed_values']} value(s) fixed by declared "
            f"cleaning rules; {totals['rejected_rows']} row(s) rejected by declared rules."
        )
        for name, report in sorted(self.sources.items()):
            lines += ["", f"## {name}", "", f"Mapping: `{report.mapping}`", ""]
            lines += ["| file | data rows |", "|---|---:|"]
            lines += [f"| {f} | {n:,} |" for f, n in sorted(report.files.items())]
            lines += ["", "| table | rows imported |", "|---|---:|"]
            lines += [f"| {t} | {n:,} |" for t, n in sorted(report.rows_out.items())]
            lines += ["", "### Fixes", ""]
            if report.fixes:
                lines += ["| file | column | from | to | rule | rows | first rows |"]
                lines += ["|---|---|---|---|---|---:|---|"]
                for fix in report.fixes:
                    first = ", ".join(map(str, fix.rows[:MAX_ROWS_LISTED_IN_MARKDOWN]))
                    more = " …" if fix.count > MAX_ROWS_LISTED_IN_MARKDOWN else ""
                    to = "(missing)" if fix.replacement is None else f"`{fix.replacement}`"
                    lines.append(
                        f"| {fix.file} | {fix.column} | `{fix.original}` | {to} | {fix.rule} "
                        f"| {fix.count:,} | {first}{more} |"
                    )
            else:
                lines.append("None.")
            lines += ["", "### Rejected rows", ""]
            if report.rejections:
                lines += ["| file | row | column | value | reason |", "|---|---:|---|---|---|"]
                for rej in report.rejections:
                    lines.append(
                        f"| {rej.file} | {rej.row} | {rej.column or ''} | {rej.value or ''} "
                        f"| {rej.reason} |"
                    )
            else:
                lines.append("None.")
            if report.notes:
                lines += ["", "### Notes", ""]
                lines += [f"- {note}" for note in report.notes]
        return "\n".join(lines) + "\n"
