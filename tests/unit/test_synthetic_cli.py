"""`spm synthetic enrich` / `summary` on a small Parquet store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.ingest.storage import open_store
from spm_cli.common import ExitCode
from spm_cli.main import app
from tests.enrichment_frames import maven_like_tables


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    open_store(tmp_path).write_tables(maven_like_tables())
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["-q", "synthetic", *args])
    return result.exit_code, result.stdout


def test_enrich_writes_flagged_tables_once(data_dir: Path) -> None:
    code, out = _run("enrich", "--data-dir", str(data_dir), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["written"] is True and "stage_history" in report["updated_tables"]
    store = open_store(data_dir)
    assert store.read_table("stage_history")["is_synthetic"].all()
    assert store.read_table("opportunities")["created_at"].notna().all()

    code, out = _run("summary", "--data-dir", str(data_dir), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["leads"]["flagged_values"]["created_at"] == 6
    assert summary["quotas"]["synthetic_rows"] == summary["quotas"]["rows"] > 0

    code, out = _run("enrich", "--data-dir", str(data_dir), "--json")
    assert code == 0 and json.loads(out)["generated"] == []  # nothing left to fill


def test_dry_run_writes_nothing(data_dir: Path) -> None:
    code, out = _run("enrich", "--data-dir", str(data_dir), "--dry-run")
    assert code == 0 and out.startswith("would update")
    assert open_store(data_dir).read_table("stage_history").empty


def test_other_seed_and_as_of_are_accepted(data_dir: Path) -> None:
    code, out = _run(
        "enrich", "--data-dir", str(data_dir), "--seed", "7", "--as-of", "2017-09-30T00:00:00Z"
    )
    assert code == 0, out
    leads = open_store(data_dir).read_table("leads")
    assert leads["created_at"].max().year == 2017 and leads["created_at"].min().year == 2016


def test_bad_input_exit_codes(tmp_path: Path, data_dir: Path) -> None:
    code, _ = _run("enrich", "--data-dir", str(tmp_path / "empty"))
    assert code == ExitCode.NOT_FOUND
    code, _ = _run("enrich", "--data-dir", str(data_dir), "--as-of", "2017-09-30")
    assert code == ExitCode.USAGE
    code, _ = _run("enrich", "--data-dir", str(data_dir), "--as-of", "yesterday")
    assert code == ExitCode.USAGE


def test_invalid_result_is_not_written(tmp_path: Path) -> None:
    tables = maven_like_tables()
    reps = tables["reps"].copy()
    reps.loc[0, "manager_id"] = "ghost"  # a broken reference the enrichment must not hide
    tables["reps"] = reps
    open_store(tmp_path).write_tables(tables)
    result = CliRunner().invoke(app, ["-q", "synthetic", "enrich", "--data-dir", str(tmp_path)])
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "nothing written" in result.stderr
    assert open_store(tmp_path).read_table("stage_history").empty
