"""`spm commissions` and `spm plans` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spm_cli.common import ExitCode
from spm_cli.main import app

ROOT = Path(__file__).resolve().parents[3]
WORKED = ROOT / "examples" / "plans" / "worked-example.yaml"
TX = (
    "transaction_id,rep_id,amount,currency,credit_date,cancel_date\n"
    "A,r1,30000,USD,2025-01-10,\nB,r1,50000,USD,2025-02-03,2025-04-15\nC,r1,45000,USD,2025-03-20,\n"
)
QUOTAS = "rep_id,period,quota\nr1,2025-Q1,100000\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "tx.csv").write_text(TX)
    (tmp_path / "quotas.csv").write_text(QUOTAS)
    return {"tx": tmp_path / "tx.csv", "quotas": tmp_path / "quotas.csv", "dir": tmp_path}


def _calc(files: dict[str, Path], out: Path, *extra: str) -> object:
    args = ["commissions", "calculate", "--plan", str(WORKED), "--transactions", str(files["tx"])]
    return CliRunner().invoke(
        app, [*args, "--quotas", str(files["quotas"]), "--out", str(out), *extra]
    )


def test_calculate_writes_three_files_and_reruns_byte_identical(files: dict[str, Path]) -> None:
    out1, out2 = files["dir"] / "run1", files["dir"] / "run2"
    r1 = _calc(files, out1, "--json")
    assert r1.exit_code == 0, r1.output  # type: ignore[attr-defined]
    manifest = json.loads(r1.stdout)  # type: ignore[attr-defined]
    assert manifest["plan"]["id"] == "worked-example-2025"
    assert set(manifest["inputs"]) == {"transactions", "quotas"}
    assert _calc(files, out2).exit_code == 0  # type: ignore[attr-defined]
    for name in ("lines.csv", "statements.csv"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes()
    run1, run2 = (json.loads((o / "run.json").read_text()) for o in (out1, out2))
    run1.pop("timings"), run2.pop("timings")
    assert run1 == run2
    statements = (out1 / "statements.csv").read_text().splitlines()
    assert (
        statements[0] == "rep_id,period,credited,quota,attainment,gross,adjustments,payout,currency"
    )
    assert statements[1].endswith(",7000.00,0.00,7000.00,USD")
    assert "-2400.00" in statements[2]
    # A second run into the same directory replaces the previous run.
    assert _calc(files, out1).exit_code == 0  # type: ignore[attr-defined]


BAD_INPUTS = {
    "shares": (
        "transaction_id,rep_id,amount,currency,credit_date,share\nT7,a,100,USD,2025-01-01,0.5\nT7,b,100,USD,2025-01-01,0.4\n",
        "'T7'",
    ),
    "currency": (
        "transaction_id,rep_id,amount,currency,credit_date\nT1,r1,100,XYZ,2025-01-01\n",
        "row 1, column currency",
    ),
    "amount": (
        "transaction_id,rep_id,amount,currency,credit_date\nT1,r1,12a,USD,2025-01-01\n",
        "row 1, column amount",
    ),
    "date": (
        "transaction_id,rep_id,amount,currency,credit_date\nT1,r1,1,USD,01/02/2025\n",
        "row 1, column credit_date",
    ),
    "fx": (
        "transaction_id,rep_id,amount,currency,credit_date\nT1,r1,1,EUR,2025-02-02\n",
        "EUR to USD for 2025-02",
    ),
    "quota": (
        "transaction_id,rep_id,amount,currency,credit_date\nT1,zed,1,USD,2025-02-02\n",
        "rep 'zed' in 2025-Q1",
    ),
    "column": (
        "transaction_id,rep_id,currency,credit_date\nT1,r1,USD,2025-02-02\n",
        "missing column 'amount'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_non_zero_naming_the_culprit_and_writes_nothing(
    files: dict[str, Path], case: str
) -> None:
    text, fragment = BAD_INPUTS[case]
    files["tx"].write_text(text)
    out = files["dir"] / "out"
    result = _calc(files, out)
    assert result.exit_code == ExitCode.INVALID_INPUT  # type: ignore[attr-defined]
    assert fragment in result.stderr  # type: ignore[attr-defined]
    assert not out.exists()
    assert not [p for p in files["dir"].iterdir() if p.name.startswith(".out")]


def test_malformed_plan_names_the_key(files: dict[str, Path]) -> None:
    bad = files["dir"] / "bad.yaml"
    bad.write_text(WORKED.read_text().replace("{upto: 1.0, rate: 0.08}", "{upto: 0.4, rate: 0.08}"))
    out = files["dir"] / "out"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "commissions",
            "calculate",
            "--plan",
            str(bad),
            "--transactions",
            str(files["tx"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "components[0].tiers[1].upto: must be greater than the previous upto" in result.stderr
    assert not out.exists()
    validated = runner.invoke(app, ["plans", "validate", str(bad), "--json"])
    assert validated.exit_code == ExitCode.INVALID_INPUT
    assert json.loads(validated.stdout)["errors"][0]["path"] == "components[0].tiers[1].upto"


def test_plans_schema_and_validate_ok(tmp_path: Path) -> None:
    runner = CliRunner()
    schema = runner.invoke(app, ["plans", "schema"])
    assert schema.exit_code == 0
    assert json.loads(schema.stdout)["title"] == "Commission plan"
    ok = runner.invoke(app, ["plans", "validate", str(WORKED), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True


def test_estimate_json(files: dict[str, Path]) -> None:
    deals = files["dir"] / "open.csv"
    deals.write_text("transaction_id,amount,currency,credit_date\nO1,10000,USD,2025-03-25\n")
    result = CliRunner().invoke(
        app,
        [
            "commissions",
            "estimate",
            "--plan",
            str(WORKED),
            "--rep",
            "r1",
            "--open-deals",
            str(deals),
            "--transactions",
            str(files["tx"]),
            "--quotas",
            str(files["quotas"]),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    estimates = json.loads(result.stdout)["estimates"]
    # Credit 125k -> 135k: the 10k falls between 125% and 150% at 12%.
    assert estimates[0]["incremental"] == "1200.00"


def test_help_for_every_verb() -> None:
    runner = CliRunner()
    for verb in (
        ["commissions", "calculate"],
        ["commissions", "estimate"],
        ["plans", "schema"],
        ["plans", "validate"],
    ):
        assert runner.invoke(app, [*verb, "--help"]).exit_code == 0
