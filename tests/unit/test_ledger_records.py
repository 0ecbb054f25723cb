"""Ledger input records: run keys, validation before any write, run directories."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from spm_domain.ledger import InvalidRunError, LineRecord, RunInput, StatementRecord, to_jsonable
from spm_domain.ledger.engine_bridge import manifest_key_parts
from spm_domain.ledger.records import validate_run
from spm_domain.ledger.rundir import load_run_dir


def _run(*lines: LineRecord, period: str = "2025-01") -> RunInput:
    return RunInput("plan", "v1", "h", period, {"transactions": "x"}, lines)


def test_run_key_ignores_input_order_and_depends_on_every_part() -> None:
    a = RunInput("p", "v", "h", "2025-01", {"transactions": "1", "quotas": "2"}, ())
    b = RunInput("p", "v2", "h", "2025-01", {"quotas": "2", "transactions": "1"}, ())
    assert a.run_key == b.run_key and len(a.run_key) == 64
    assert a.run_id == f"run_{a.run_key[:16]}"
    assert RunInput("p", "v", "h", "2025-01", {"transactions": "1"}, ()).run_key != a.run_key


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            LineRecord("r", "2025-01", "base", Decimal("1.001"), "USD", "T"),
            "more decimals than USD",
        ),
        (LineRecord("r", "2025-01", "base", Decimal("1"), "XXY", "T"), "column currency"),
        (LineRecord("r", "2025-02", "base", Decimal("1"), "USD", "T"), "column period"),
        (LineRecord("", "2025-01", "base", Decimal("1"), "USD", "T"), "column rep_id"),
        (LineRecord("r", "2025-01", "base", 1.5, "USD", "T"), "binary float"),  # type: ignore[arg-type]
        (LineRecord("r", "2025-01", "base", Decimal("1"), "JPY", "T", rate="x"), "column rate"),  # type: ignore[arg-type]
    ],
)
def test_bad_lines_are_named(line: LineRecord, message: str) -> None:
    ok = LineRecord("r", "2025-01", "base", Decimal("1.00"), "USD", "T0")
    with pytest.raises(InvalidRunError, match=r"run line 2 .*" + message):
        validate_run(_run(ok, line))


def test_bad_period_and_statement_are_named() -> None:
    with pytest.raises(InvalidRunError, match="unknown period key"):
        validate_run(_run(period="Q1-2025"))
    bad = StatementRecord("r", "2025-01", Decimal(1), Decimal(1), Decimal(0), Decimal(1), "ABC")
    with pytest.raises(InvalidRunError, match=r"run statement 1 \(rep 'r'\), column currency"):
        validate_run(RunInput("p", "v", "h", "2025-01", {}, (), (bad,)))


def test_views_serialise_decimals_exactly() -> None:
    record = StatementRecord(
        "r", "2025-01", Decimal("0.1"), Decimal("10.00"), Decimal(0), Decimal("10.00"), "USD"
    )
    assert to_jsonable(record)["gross"] == "10.00" and to_jsonable(record)["credited"] == "0.1"


def test_manifest_of_the_engine_gives_the_run_key_parts() -> None:
    parts = manifest_key_parts(
        {
            "engine_version": "1.0",
            "plan": {"id": "ae", "sha256": "abcdef0123456789"},
            "inputs": {
                "transactions": {"sha256": "t", "rows": 3},
                "quotas": {"sha256": "q", "rows": 1},
            },
        }
    )
    assert parts == {
        "plan_id": "ae",
        "plan_version": "sha256:abcdef012345",
        "plan_hash": "abcdef0123456789",
        "input_hashes": {"transactions": "t", "quotas": "q"},
        "engine_version": "1.0",
    }
    with pytest.raises(InvalidRunError, match="no plan hash"):
        manifest_key_parts({"plan": {"id": "ae"}})


def test_run_dir_errors_name_file_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(
        json.dumps({"plan": {"id": "p", "sha256": "h"}, "inputs": {}})
    )
    (tmp_path / "lines.csv").write_text(
        "rep_id,period,component,transaction_id,amount,currency\n"
        "r1,2025-01,base,T1,10.00,USD\n"
        "r1,2025-01,base,T2,ten,USD\n"
    )
    with pytest.raises(InvalidRunError, match=r"lines.csv row 3, column amount"):
        load_run_dir(tmp_path)
    (tmp_path / "lines.csv").write_text("rep_id,period,amount\nr1,2025-01,1\n")
    with pytest.raises(InvalidRunError, match=r"missing column\(s\) \['component', 'currency'\]"):
        load_run_dir(tmp_path)
    (tmp_path / "lines.csv").write_text(
        "rep_id,period,component,amount,currency\nr1,2025-01,base,1.00,USD\nr1,2025-02,base,2.00,USD\n"
    )
    runs = load_run_dir(tmp_path)
    assert [(r.period, len(r.lines)) for r in runs] == [("2025-01", 1), ("2025-02", 1)]
    with pytest.raises(
        InvalidRunError, match=r"no line or statement for period\(s\) \['2025-03'\]"
    ):
        load_run_dir(tmp_path, periods=["2025-03"])


def test_ledger_url_comes_from_the_option_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spm_domain.ledger import DEFAULT_LEDGER_URL, LEDGER_URL_ENV, resolve_ledger_url

    monkeypatch.delenv(LEDGER_URL_ENV, raising=False)
    assert resolve_ledger_url() == DEFAULT_LEDGER_URL == "sqlite:///./data/ledger.db"
    monkeypatch.setenv(LEDGER_URL_ENV, "postgresql+psycopg://u@h/db")
    assert resolve_ledger_url() == "postgresql+psycopg://u@h/db"
    assert resolve_ledger_url("sqlite:///x.db") == "sqlite:///x.db"
