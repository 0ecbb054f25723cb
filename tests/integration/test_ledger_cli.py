"""`spm ledger ...` end to end on a SQLite ledger: post a run directory, approve,
pay, refuse illegal moves with exit code CONFLICT, audit, statements."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spm_cli.common import ExitCode
from spm_cli.main import app

LINES = [
    ["rep_id", "period", "component", "transaction_id", "credited_amount", "rate", "amount", "currency", "explanation"],
    ["r1", "2025-Q1", "base", "T1", "40000", "0.08", "3200.00", "USD", "8% on 40,000.00 between 50% and 100% of quota"],
    ["r1", "2025-Q1", "base", "T2", "10000", "0.12", "1200.00", "USD", "12% on 10,000.00 above 100% of quota"],
    ["r2", "2025-Q1", "base", "T3", "5000", "0", "0.00", "USD", "0% on 5,000.00 below 50% of quota"],
]  # fmt: skip
STATEMENTS = [
    ["rep_id", "period", "credited", "quota", "attainment", "gross", "adjustments", "payout", "currency"],
    ["r1", "2025-Q1", "50000", "45000", "1.1111", "4400.00", "0", "4400.00", "USD"],
    ["r2", "2025-Q1", "5000", "45000", "0.1111", "0.00", "0", "0.00", "USD"],
]  # fmt: skip


def _write_run_dir(path: Path) -> Path:
    path.mkdir()
    for name, rows in (("lines.csv", LINES), ("statements.csv", STATEMENTS)):
        with (path / name).open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)
    (path / "run.json").write_text(
        json.dumps(
            {
                "plan": {"id": "ae_2025", "version": "1", "hash": "sha256:abc"},
                "input_hashes": {"transactions": "sha256:t1", "quotas": "sha256:q1"},
                "engine_version": "0.1.0",
            }
        )
    )
    return path


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SPM_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    return CliRunner()


def _run(cli: CliRunner, *args: str) -> tuple[int, str]:
    """Exit code and stdout (JSON lands there; logs and errors go to stderr)."""
    result = cli.invoke(app, ["ledger", *args])
    return result.exit_code, result.stdout


def _err(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["ledger", *args])
    return result.exit_code, result.output


def test_ledger_cli_end_to_end(cli: CliRunner, tmp_path: Path) -> None:
    run_dir = _write_run_dir(tmp_path / "run")
    code, out = _run(cli, "post", "--run-dir", str(run_dir), "--as", "alice", "--json")
    assert code == ExitCode.OK, out
    posted = json.loads(out)
    assert posted[0]["created"] is True and posted[0]["run"]["line_count"] == 3
    run_id = posted[0]["run"]["id"]
    code, out = _run(cli, "post", "--run-dir", str(run_dir), "--as", "alice", "--json")
    assert json.loads(out)[0]["created"] is False

    code, out = _run(cli, "lines", "--rep", "r1", "--json")
    lines = json.loads(out)
    assert [line["amount"] for line in lines] == ["3200.00", "1200.00"]

    assert _run(cli, "approve", "--run", run_id, "--level", "manager", "--as", "mia")[0] == 0
    code, out = _run(cli, "approve", "--run", run_id, "--level", "finance", "--as", "mia")
    assert code == ExitCode.CONFLICT and "different approver" not in out  # run approval skips
    assert _run(cli, "approve", "--run", run_id, "--level", "finance", "--as", "fred")[0] == 0
    code, out = _run(cli, "pay", "--period", "2025-Q1", "--as", "paula", "--json")
    assert code == 0, out
    assert {p["rep_id"]: p["amount"] for p in json.loads(out)} == {"r1": "4400.00", "r2": "0.00"}

    first_id = str(lines[0]["id"])
    code, out = _err(cli, "approve", first_id, "--level", "manager", "--as", "mia")
    assert code == ExitCode.CONFLICT and "is paid" in out
    code, out = _run(cli, "dispute", first_id, "--reason", "too low", "--as", "r1")
    assert code == ExitCode.CONFLICT
    code, out = _run(cli, "approve", "424242", "--level", "manager", "--as", "mia")
    assert code == ExitCode.NOT_FOUND

    code, out = _run(cli, "adjust", "--rep", "r1", "--period", "2025-Q1", "--amount", "-100.00",
                     "--reason", "overpaid", "--as", "fred", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["component"] == "debit_note"
    code, out = _run(cli, "adjust", "--rep", "r1", "--period", "2025-Q1", "--amount", "1.234",
                     "--reason", "x", "--as", "fred")  # fmt: skip
    assert code == ExitCode.INVALID_INPUT
    code, out = _err(cli, "adjust", "--rep", "nobody", "--period", "2025-Q1", "--amount", "5",
                     "--reason", "x", "--as", "fred")  # fmt: skip
    assert code == ExitCode.USAGE and "pass --currency" in out

    code, out = _run(cli, "close-period", "2025-Q1", "--as", "fred")
    assert code == 0
    assert _run(cli, "close-period", "2025-Q1", "--as", "fred")[0] == ExitCode.CONFLICT

    code, out = _run(cli, "statement", "--rep", "r1", "--period", "2025-Q1", "--out",
                     str(tmp_path / "out"), "--json")  # fmt: skip
    assert code == 0, out
    summary = json.loads(out)
    assert summary["payout"] == "4300.00"
    html = Path(summary["files"]["html"]).read_text()
    assert "8% on 40,000.00 between 50% and 100% of quota" in html
    with Path(summary["files"]["csv"]).open() as handle:
        assert sum(Decimal(r["amount"]) for r in csv.DictReader(handle)) == Decimal("4300.00")

    code, out = _run(cli, "audit", "--entity", "payment", "--json")
    assert code == 0 and {e["actor"] for e in json.loads(out)} == {"paula"}
    code, out = _run(cli, "audit")
    assert code == 0 and "run.posted" in out
    for verb in ("runs", "periods", "payments", "disputes", "config"):
        assert _run(cli, verb)[0] == 0, verb


def test_ledger_cli_usage_errors(cli: CliRunner, tmp_path: Path) -> None:
    assert _run(cli, "post", "--as", "alice")[0] == ExitCode.USAGE
    code, out = _err(cli, "post", "--run-dir", str(tmp_path / "missing"), "--as", "a")
    assert code == ExitCode.INVALID_INPUT and "run.json: file not found" in out
    assert _run(cli, "approve", "--level", "manager")[0] == ExitCode.USAGE
    code, out = _run(cli, "lines", "--status", "weird")
    assert code == ExitCode.USAGE
    result = cli.invoke(app, ["ledger", "--help"])
    assert result.exit_code == 0 and "statement" in result.output
