"""Imports: mapping(s) + files → validated canonical tables → one atomic store write.

Order of work (so that a failure leaves the store exactly as it was):
1. run every mapping over its files (collect all issues);
2. merge with what the store holds: rows of the imported sources are
   replaced (re-importing a source is idempotent), rows of other sources are
   kept (`mode="append"` keeps everything and adds);
3. validate the merged tables (per-table and cross-table rules);
4. only if there is no issue at all: write every touched table and the
   quality report in one atomic step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from features.ingest.dtypes import SOURCE_FILE_COL, SOURCE_ROW_COL, conform_frame
from features.ingest.mapping import Mapping, load_mapping
from features.ingest.quality import ImportValidationError, Issue, QualityReport, SourceReport
from features.ingest.storage import CanonicalStore
from features.ingest.transform import transform
from features.ingest.validation import validate_tables

log = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"
ImportMode = Literal["replace", "append"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportJob:
    """One mapping applied to its input files."""

    mapping_path: Path
    files: tuple[Path, ...]
    mapping: Mapping | None = None


@dataclass
class ImportResult:
    """What an import wrote."""

    location: str
    sources: list[str]
    rows_by_table: dict[str, int] = field(default_factory=dict)  # rows imported now
    report: QualityReport = field(default_factory=QualityReport)
    dry_run: bool = False  # validated only; nothing was written

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "location": self.location,
            "sources": self.sources,
            "rows_by_table": self.rows_by_table,
            "quality": self.report.to_dict()["totals"],
        }


def _merge_with_store(
    store: CanonicalStore,
    produced: dict[str, pd.DataFrame],
    sources: set[str],
    mode: ImportMode,
) -> tuple[dict[str, pd.DataFrame], set[str]]:
    """The full set of tables after the import, and the names of those that change."""
    merged: dict[str, pd.DataFrame] = {}
    changed: set[str] = set(produced)
    for name in set(store.table_names()) | set(produced):
        existing = store.read_table(name)
        if mode == "replace" and len(existing):
            stale = existing["source"].isin(sources)
            if stale.any():
                changed.add(name)
            existing = existing[~stale]
        new = produced.get(name)
        if new is None:
            merged[name] = existing.reset_index(drop=True)
        elif len(existing):
            merged[name] = conform_frame(
                pd.concat([existing, new], ignore_index=True), name, keep_hidden=True
            )
        else:
            merged[name] = new
    return merged, changed


def run_imports(
    store: CanonicalStore,
    jobs: Sequence[ImportJob],
    *,
    mode: ImportMode = "replace",
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import several mappings all-or-nothing (one validation, one write).
    With `dry_run`, everything is checked and reported but nothing is written."""
    note = progress or (lambda _msg: None)
    produced: dict[str, list[pd.DataFrame]] = {}
    reports: list[SourceReport] = []
    issues: list[Issue] = []
    for job in jobs:
        mapping = job.mapping or load_mapping(job.mapping_path)
        note(f"mapping {mapping.source}")
        result = transform(mapping, job.files, mapping_name=job.mapping_path.name)
        issues += result.issues
        reports.append(result.report)
        for name, frame in result.tables.items():
            produced.setdefault(name, []).append(frame)
    if issues:
        raise ImportValidationError(issues)
    duplicated = [r.source for r in reports if [x.source for x in reports].count(r.source) > 1]
    if duplicated:
        raise ImportValidationError(
            [Issue(f"two mappings in one import share the source name {sorted(set(duplicated))}")]
        )
    tables = {
        name: frames[0]
        if len(frames) == 1
        else conform_frame(pd.concat(frames, ignore_index=True), name, keep_hidden=True)
        for name, frames in produced.items()
    }
    sources = {r.source for r in reports}
    note("validating")
    merged, changed = _merge_with_store(store, tables, sources, mode)
    issues = validate_tables(merged)
    if issues:
        raise ImportValidationError(issues)
    earlier, _ = store.read_quality_report()
    quality = QualityReport.from_dict(earlier).merge(reports)
    rows = {name: len(frame) for name, frame in tables.items()}
    if dry_run:
        note("dry run: nothing written")
        return ImportResult(store.location, sorted(sources), rows, quality, dry_run=True)
    note("writing")
    to_write = {
        name: merged[name].drop(columns=[SOURCE_FILE_COL, SOURCE_ROW_COL], errors="ignore")
        for name in sorted(changed)
    }
    store.write_tables(
        to_write,
        mode="replace",
        quality_report=quality.to_dict(),
        quality_markdown=quality.to_markdown(),
    )
    log.info("imported %s into %s", ", ".join(sorted(sources)), store.location)
    return ImportResult(store.location, sorted(sources), rows, quality)


def import_files(
    store: CanonicalStore,
    mapping_path: Path,
    files: Sequence[Path],
    *,
    mode: ImportMode = "replace",
    progress: Progress | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import files with one mapping (`spm data import`)."""
    job = ImportJob(Path(mapping_path), tuple(Path(f) for f in files))
    return run_imports(store, [job], mode=mode, progress=progress, dry_run=dry_run)


@dataclass(frozen=True)
class SharedDataset:
    """A shipped mapping and the folder (under the shared data dir) it reads."""

    mapping: str
    folder: str
    patterns: tuple[str, ...]


SHARED_DATASETS: tuple[SharedDataset, ...] = (
    SharedDataset("maven_crm.yaml", "maven_crm_sales_opportunities", ("*.csv",)),
    SharedDataset("x_education_leads.yaml", "x_education_leads", ("Leads.csv",)),
    SharedDataset(
        "adventureworks_pl300.yaml", "adventureworks_sales_targets/pl300_dw2020", ("*.csv",)
    ),
    SharedDataset(
        "adventureworks_oltp2014.yaml",
        "adventureworks_sales_targets/oltp2014_quota_history",
        ("*.csv",),
    ),
    SharedDataset("superstore.yaml", "superstore_sales", ("*.csv",)),
    SharedDataset("ibm_sales_win_loss.yaml", "ibm_sales_win_loss", ("*.csv.gz",)),
)


def shared_jobs(shared_dir: Path) -> list[ImportJob]:
    """The import jobs of every shipped dataset mapping. `shared_dir` is the
    folder holding `data/` (or the `data/` folder itself)."""
    root = Path(shared_dir)
    data_dir = root / "data" if (root / "data").is_dir() else root
    jobs = []
    for dataset in SHARED_DATASETS:
        folder = data_dir / dataset.folder
        files = sorted({p for pattern in dataset.patterns for p in folder.glob(pattern)})
        if not files:
            raise ImportValidationError(
                [Issue(f"no input files for {dataset.mapping} in {folder}", file=str(folder))]
            )
        jobs.append(ImportJob(MAPPINGS_DIR / dataset.mapping, tuple(files)))
    return jobs


def import_shared_datasets(
    shared_dir: Path, store: CanonicalStore, *, progress: Progress | None = None
) -> ImportResult:
    """Import every dataset of `/work/shared/data` with the shipped mappings."""
    return run_imports(store, shared_jobs(shared_dir), mode="replace", progress=progress)
