"""`spm targets` and `spm quota` on a small canonical store written with the store API."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.ingest.storage import open_store
from spm_cli.common import ExitCode
from spm_cli.main import app

PROV = {"source": "test", "is_synthetic": False}


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([{**r, **PROV} for r in rows])


def _txn(tid: str, rep: str, day: str, amount: str, **extra: object) -> dict[str, object]:
    return {
        "transaction_id": tid, "rep_id": rep, "amount": Decimal(amount), "currency": "USD",
        "credit_date": pd.Timestamp(day), "share": Decimal(1), **extra,
    }  # fmt: skip


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    units = [
        {"unit_id": "company", "kind": "company", "name": "Acme", "parent_id": None},
        {"unit_id": "region:East", "kind": "region", "name": "East", "parent_id": "company"},
        {"unit_id": "region:West", "kind": "region", "name": "West", "parent_id": "company"},
        {"unit_id": "team:E", "kind": "team", "name": "Team E", "parent_id": "region:East"},
        {"unit_id": "team:W", "kind": "team", "name": "Team W", "parent_id": "region:West"},
    ]
    reps = [
        {"rep_id": rid, "name": rid.title(), "manager_id": manager, "team_id": team,
         "region_id": region, "role": "AE", "hire_date": None, "termination_date": None,
         "currency": "USD"}
        for rid, manager, team, region in [
            ("ann", "mia", "team:E", "region:East"),
            ("bob", "mia", "team:E", "region:East"),
            ("cat", None, "team:W", "region:West"),
            ("mia", None, "team:E", "region:East"),  # manages ann and bob
        ]
    ]  # fmt: skip
    transactions = [
        _txn("h1", "ann", "2016-03-10", "300000"),
        _txn("h2", "bob", "2016-11-02", "100000"),
        _txn("h3", "cat", "2016-11-20", "600000"),
        _txn("q1", "ann", "2017-07-10", "20000"),
        _txn("q2", "ann", "2017-08-14", "15000"),
        _txn("q3", "bob", "2017-07-05", "40000"),
        _txn("q4", "bob", "2017-08-01", "70000"),
        _txn("q5", "cat", "2017-08-20", "5000", currency="EUR"),
    ]
    fx = [
        {"period": "2017-08", "from_currency": "EUR", "to_currency": "USD", "rate": Decimal("1.2")}
    ]
    quotas = [
        {
            "rep_id": r,
            "period": "2017-Q3",
            "measure": "revenue",
            "quota": Decimal(q),
            "currency": "USD",
        }
        for r, q in [("ann", "90000"), ("bob", "100000"), ("cat", "60000"), ("mia", "190000")]
    ] + [
        {
            "rep_id": "ann",
            "period": "2017-Q3",
            "measure": "units",
            "quota": Decimal(10),
            "currency": None,
        }
    ]
    open_store(tmp_path).write_tables(
        {
            "org_units": _frame(units),
            "reps": _frame(reps),
            "transactions": _frame(transactions),
            "quotas": _frame(quotas),
            "fx_rates": _frame(fx),
        }
    )
    return tmp_path


def run(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_cascade_history_json_sums_exactly(data_dir: Path) -> None:
    result = run(
        "targets", "cascade", "--total", "12000000", "--currency", "USD", "--period", "2017",
        "--method", "history", "--data-dir", str(data_dir), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    tree = payload["tree"]
    assert payload["history_period"] == "2016" and payload["checks"] == {"exact_sums": True}
    east, west = tree["children"]
    assert (east["amount"], west["amount"]) == ("4800000.00", "7200000.00")  # 400k : 600k
    ann, bob = east["children"][0]["children"]
    assert (ann["amount"], bob["amount"]) == ("3600000.00", "1200000.00")


def test_cascade_seasonal_profile_tree_and_csv(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "targets.csv"
    result = run(
        "targets", "cascade", "--total", "1000000.01", "--currency", "USD", "--period", "2017",
        "--method", "equal", "--profile", "seasonal", "--data-dir", str(data_dir), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Σ children ✓" in result.output and "every level sums exactly" in result.output
    frame = pd.read_csv(out, dtype=str)
    months = [c for c in frame.columns if c.startswith("2017-")]
    assert len(months) == 12
    company = frame[frame["level"] == "company"].iloc[0]
    # history 2016: March 300k, November 700k -> only those months get targets
    assert Decimal(company["2017-03"]) == Decimal("300000.00")
    assert Decimal(company["2017-11"]) == Decimal("700000.01")
    reps = frame[frame["level"] == "rep"]
    for month in months:
        assert sum(Decimal(v) for v in reps[month]) == Decimal(company[month])
    assert sum(Decimal(v) for v in reps["amount"]) == Decimal("1000000.01")


def test_cascade_weights_file_and_template(data_dir: Path, tmp_path: Path) -> None:
    weights = tmp_path / "w.csv"
    weights.write_text("id,weight\nann,1\nbob,3\ncat,4\n")
    template = tmp_path / "T.yaml"
    template.write_text(
        "name: mixed\nmeasure: revenue\ncurrency: USD\nlevels:\n  region: weights\n"
        "  team: equal\n  rep: weights\nproduct_mix:\n  GTX: 3\n  MG: 1\n"
    )
    out = tmp_path / "t.json"
    result = run(
        "targets", "cascade", "--total", "800", "--period", "2017", "--template", str(template),
        "--weights", str(weights), "--data-dir", str(data_dir), "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload == json.loads(result.stdout)
    east, west = payload["tree"]["children"]
    assert (east["amount"], west["amount"]) == ("400.00", "400.00")
    assert [r["amount"] for r in east["children"][0]["children"]] == ["100.00", "300.00"]
    assert payload["tree"]["product_mix"] == {"GTX": "600.00", "MG": "200.00"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--total", "1", "--period", "2017"], ExitCode.INVALID_INPUT, "needs a currency"),
        (["--total", "1.001", "--currency", "USD", "--period", "2017"], ExitCode.INVALID_INPUT, "more decimals"),
        (["--total", "1", "--currency", "USD", "--period", "2017", "--method", "weights"], ExitCode.INVALID_INPUT, "needs --weights"),
        (["--total", "1", "--currency", "USD", "--period", "2017", "--method", "random"], ExitCode.INVALID_INPUT, "--method"),
        (["--total", "1", "--currency", "USD", "--period", "2017-Q1", "--profile", "flat"], ExitCode.INVALID_INPUT, "splits a year"),
        (["--total", "1", "--currency", "USD", "--period", "2017", "--template", "/nonexistent.yaml"], ExitCode.NOT_FOUND, "nonexistent"),
    ],
)  # fmt: skip
def test_cascade_refuses_bad_input(
    data_dir: Path, args: list[str], code: ExitCode, message: str
) -> None:
    result = run("targets", "cascade", *args, "--data-dir", str(data_dir))
    assert result.exit_code == code, result.output
    assert message in result.output


def test_cascade_on_an_empty_store_is_not_found(tmp_path: Path) -> None:
    result = run("targets", "cascade", "--total", "1", "--currency", "USD", "--period", "2017",
                 "--data-dir", str(tmp_path))  # fmt: skip
    assert result.exit_code == ExitCode.NOT_FOUND and "no org_units" in result.output


def test_bad_canonical_row_names_table_row_and_column(data_dir: Path) -> None:
    store = open_store(data_dir)
    bad = _frame([_txn("x1", "ann", "2016-01-01", "5")])
    bad["currency"] = None
    store.write_tables({"transactions": bad})
    result = run("targets", "cascade", "--total", "1", "--currency", "USD", "--period", "2017",
                 "--data-dir", str(data_dir))  # fmt: skip
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "transactions row 1: column currency is empty" in result.output


def test_quota_status_json(data_dir: Path) -> None:
    result = run(
        "quota", "status", "--period", "2017-Q3", "--as-of", "2017-08-15T00:00:00+00:00",
        "--data-dir", str(data_dir), "--measure", "revenue", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["rep_id"]: r for r in json.loads(result.stdout)}
    assert rows["ann"]["achieved"] == "35000" and rows["ann"]["variance"] == "-55000"
    assert rows["ann"]["status"] == "At Risk"
    assert rows["bob"]["status"] == "Exceeded"  # 110,000 of 100,000
    assert rows["cat"]["achieved"] == "0" and rows["cat"]["status"] == "At Risk"  # Aug 20 later
    assert rows["mia"]["achieved"] == "145000" and rows["mia"]["status"] == "On Track"  # team
    assert [m["state"] for m in rows["ann"]["milestones"]] == ["missed", "pending"]
    assert Decimal(rows["ann"]["elapsed"]).quantize(Decimal("0.0001")) == Decimal("0.4891")


def test_quota_status_table_for_one_rep_with_custom_rules(data_dir: Path) -> None:
    result = run(
        "quota", "status", "--period", "2017-Q3", "--as-of", "2017-08-15T00:00:00+00:00",
        "--rep", "ann", "--at-risk-below-pace", "0.7", "--milestone", "2017-08-31=0.5",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "On Track" in result.output  # pace 0.795 >= 0.7
    assert "ann" in result.output and "bob" not in result.output
    assert "units" in result.output  # ann's units quota (no quantity data: 0 achieved)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--period", "2016-Q1"], ExitCode.NOT_FOUND, "no quotas for period 2016-Q1"),
        (["--period", "2017-Q3", "--rep", "zed"], ExitCode.NOT_FOUND, "zed"),
        (["--period", "2017-Q3", "--as-of", "2017-08-15T00:00:00"], ExitCode.INVALID_INPUT, "no timezone"),
        (["--period", "2017-Q3", "--exceeded-at", "0.5"], ExitCode.INVALID_INPUT, "status rules"),
        (["--period", "2017-Q3", "--milestone", "2017-08-31"], ExitCode.INVALID_INPUT, "--milestone"),
    ],
)  # fmt: skip
def test_quota_status_refuses_bad_input(
    data_dir: Path, args: list[str], code: ExitCode, message: str
) -> None:
    result = run("quota", "status", *args, "--data-dir", str(data_dir))
    assert result.exit_code == code, result.output
    assert message in result.output


def test_prorate_day_45() -> None:
    result = run("targets", "prorate", "--period", "2017-Q3", "--target", "90000",
                 "--change", "day45=120000", "--currency", "USD", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["effective_target"] == "105652.17"
    assert [s["days"] for s in payload["segments"]] == [44, 48]
    assert payload["segments"][1]["from"] == date(2017, 8, 14).isoformat()


def test_quota_status_converts_fx_and_can_skip_manager_rollup(data_dir: Path) -> None:
    result = run(
        "quota", "status", "--period", "2017-Q3", "--as-of", "2017-10-01T00:00:00+00:00",
        "--data-dir", str(data_dir), "--measure", "revenue", "--own-credits-only", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["rep_id"]: r for r in json.loads(result.stdout)}
    assert Decimal(rows["cat"]["achieved"]) == Decimal(6000)  # 5,000 EUR at 1.2
    assert rows["mia"]["achieved"] == "0" and rows["mia"]["period_closed"] is True


def test_cascade_leaves_out_managers_unless_asked_and_takes_a_root(data_dir: Path) -> None:
    base = ["targets", "cascade", "--total", "900", "--currency", "USD", "--period", "2017",
            "--method", "equal", "--data-dir", str(data_dir), "--json"]  # fmt: skip
    default = json.loads(run(*base).stdout)
    assert default["excluded_managers"] == ["mia"] and default["reps"] == 3
    everyone = json.loads(run(*base, "--include-managers").stdout)
    assert everyone["reps"] == 4
    east = json.loads(run(*base, "--root", "region:East").stdout)
    assert east["root"] == "region:East"
    assert [r["amount"] for r in east["tree"]["children"][0]["children"]] == ["450.00", "450.00"]


def test_default_history_falls_back_to_the_target_period_when_the_previous_is_empty(
    data_dir: Path,
) -> None:
    args = ["targets", "cascade", "--total", "1000", "--currency", "USD", "--method", "history",
            "--data-dir", str(data_dir), "--json"]  # fmt: skip
    payload = json.loads(run(*args, "--period", "2016").stdout)
    assert payload["history_period"] == "2016" and "2015 has no credits" in payload["history_note"]
    explicit = json.loads(run(*args, "--period", "2016", "--history-period", "2015").stdout)
    assert explicit["history_period"] == "2015" and explicit["tree"]["fell_back_to_equal"] is True


@pytest.mark.parametrize(
    "verb", [["targets", "cascade"], ["targets", "prorate"], ["quota", "status"]]
)
def test_every_verb_has_help(verb: list[str]) -> None:
    result = run(*verb, "--help")
    assert result.exit_code == 0 and "--json" in result.stdout
