"""Bad input fails the whole import through the CLI: exit code 3, a message naming
file, row, column and reason, and the store exactly as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spm_cli.common import ExitCode
from spm_cli.main import app

MAPPING = """
version: 1
source: mini
static_rows:
  - table: org_units
    rows:
      - {unit_id: "mini:co", kind: company, name: Mini Co, parent_id: null}
files:
  - match: "units*.csv"
    optional: true
    outputs:
      - table: org_units
        columns: {unit_id: id, kind: kind, name: name, parent_id: parent}
  - match: "reps*.csv"
    outputs:
      - table: reps
        columns:
          rep_id: id
          name: name
          manager_id: manager
          currency: currency
  - match: "deals*.csv"
    outputs:
      - table: transactions
        columns:
          transaction_id: id
          rep_id: rep
          amount: amount
          currency: currency
          credit_date: {from: closed, format: "%Y-%m-%d"}
          share: {value: "1"}
"""

REPS = "id,name,manager,currency\nm1,Mia,,EUR\nr1,Ray,m1,EUR\nr2,Rosa,m1,USD\n"
DEALS = "id,rep,amount,currency,closed\nd1,r1,100.10,EUR,2024-01-31\nd2,r2,0.20,USD,2024-02-29\n"


def _snapshot(data_dir: Path) -> dict[str, str]:
    """Every stored file (resolved through the canonical symlink) and its hash."""
    canonical = data_dir / "canonical"
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(canonical.resolve().iterdir())
    } | {"->": str(canonical.resolve())}


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    mapping = tmp_path / "mini.yaml"
    mapping.write_text(MAPPING, "utf-8")
    data_dir = tmp_path / "data"
    good_reps = tmp_path / "reps.csv"
    good_deals = tmp_path / "deals.csv"
    good_reps.write_text(REPS, "utf-8")
    good_deals.write_text(DEALS, "utf-8")
    result = CliRunner().invoke(
        app,
        ["data", "import", "--mapping", str(mapping), "--data-dir", str(data_dir),
         str(good_reps), str(good_deals)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"mapping": mapping, "data": data_dir, "tmp": tmp_path}


def _import_bad(ws: dict[str, Path], files: dict[str, str]) -> tuple[int, str]:
    bad_dir = ws["tmp"] / "bad"
    bad_dir.mkdir(exist_ok=True)
    paths = []
    for name, text in files.items():
        path = bad_dir / name
        path.write_text(text, "utf-8")
        paths.append(str(path))
    result = CliRunner().invoke(
        app,
        ["data", "import", "--mapping", str(ws["mapping"]), "--data-dir", str(ws["data"]), *paths],
    )
    return result.exit_code, result.output


BAD_CASES = {
    "missing column": (
        {"reps.csv": REPS, "deals.csv": DEALS.replace("amount,", "amt,")},
        ["file deals.csv", "row 1", "column amount", "missing column"],
    ),
    "unparseable date": (
        {"reps.csv": REPS, "deals.csv": DEALS.replace("2024-02-29", "29/02/2024")},
        ["file deals.csv", "row 3", "column credit_date", "'29/02/2024'", "not a date"],
    ),
    "unparseable amount": (
        {"reps.csv": REPS, "deals.csv": DEALS.replace("100.10", "1OO.10")},
        ["file deals.csv", "row 2", "column amount", "'1OO.10'", "not a decimal amount"],
    ),
    "duplicate id": (
        {"reps.csv": REPS, "deals.csv": DEALS.replace("d2,r2", "d1,r1")},
        ["file deals.csv", "row 3", "column transaction_id", "duplicate id"],
    ),
    "unknown currency": (
        {"reps.csv": REPS, "deals.csv": DEALS.replace("0.20,USD", "0.20,XYZ")},
        ["file deals.csv", "row 3", "column currency", "'XYZ'", "unknown currency"],
    ),
    "manager does not exist": (
        {"reps.csv": REPS.replace("r2,Rosa,m1", "r2,Rosa,m9"), "deals.csv": DEALS},
        ["file reps.csv", "row 4", "column manager_id", "'m9'", "manager does not exist"],
    ),
    "cycle in the management chain": (
        {"reps.csv": REPS.replace("m1,Mia,,", "m1,Mia,r2,"), "deals.csv": DEALS},
        ["file reps.csv", "row 2", "column manager_id", "cycle in the management chain"],
    ),
    "cycle in the org hierarchy": (
        {
            "reps.csv": REPS,
            "deals.csv": DEALS,
            "units.csv": "id,kind,name,parent\nmini:r1,region,R1,mini:t1\nmini:t1,team,T1,mini:r1\n",
        },
        ["file units.csv", "column parent_id", "cycle in the org hierarchy"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_fails_and_leaves_store_unchanged(workspace: dict[str, Path], case: str) -> None:
    files, expected = BAD_CASES[case]
    before = _snapshot(workspace["data"])
    code, output = _import_bad(workspace, files)
    assert code == ExitCode.INVALID_INPUT, output
    assert "nothing was written" in output
    for fragment in expected:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    assert _snapshot(workspace["data"]) == before


def test_split_shares_must_sum_to_one() -> None:
    from decimal import Decimal

    import pandas as pd

    from features.ingest.validation import validate_tables

    tx = pd.DataFrame(
        {
            "transaction_id": ["t1", "t1"],
            "rep_id": ["a", "b"],
            "amount": [Decimal("10"), Decimal("10")],
            "currency": ["USD", "USD"],
            "credit_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
            "share": [Decimal("0.6"), Decimal("0.3")],
            "source": ["t", "t"],
            "is_synthetic": [False, False],
        }
    )
    reps = pd.DataFrame(
        {"rep_id": ["a", "b"], "name": ["A", "B"], "currency": ["USD", "USD"],
         "source": ["t", "t"], "is_synthetic": [False, False]}
    )  # fmt: skip
    from features.ingest.dtypes import conform_frame

    issues = validate_tables(
        {"transactions": conform_frame(tx, "transactions"), "reps": conform_frame(reps, "reps")}
    )
    assert [i.reason for i in issues] == [
        "split shares of transaction 't1' sum to 0.9, not exactly 1"
    ]
    tx.loc[1, "share"] = Decimal("0.4")
    assert (
        validate_tables(
            {"transactions": conform_frame(tx, "transactions"), "reps": conform_frame(reps, "reps")}
        )
        == []
    )
