"""The example Salesforce and HubSpot mappings import their sample exports through
`spm data import`; summary, quality and schema print what a user needs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from features.ingest.storage import open_store
from features.ingest.validation import validate_tables
from spm_cli.main import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "features" / "ingest" / "mappings" / "examples"
SAMPLES = ROOT / "tests" / "fixtures" / "crm"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_salesforce_and_hubspot_exports_import_without_code(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    sf_files = [str(p) for p in sorted((SAMPLES / "salesforce").glob("*.csv"))]
    code, out = _invoke(
        "data", "import", "--mapping", str(EXAMPLES / "salesforce.yaml"), "--data-dir", data,
        "--json", *sf_files,
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["rows_by_table"] == {
        "accounts": 3, "leads": 4, "opportunities": 6, "reps": 4, "transactions": 2,
    }  # fmt: skip
    hs_files = [str(p) for p in sorted((SAMPLES / "hubspot").glob("*.csv"))]
    code, out = _invoke(
        "data", "import", "--mapping", str(EXAMPLES / "hubspot_deals.yaml"), "--data-dir", data,
        *hs_files,
    )  # fmt: skip
    assert code == 0, out
    store = open_store(data)
    opps = store.read_table("opportunities").set_index("opportunity_id")
    assert len(opps) == 12  # both sources side by side
    won = opps.loc["0065g00000CCCCCCC1"]
    assert (won["stage"], won["outcome"], won["forecast_category"]) == ("won", "won", "closed")
    assert won["amount"] == Decimal("120000.00") and won["currency"] == "EUR"
    assert won["probability"] == 1.0
    assert won["closed_at"].isoformat() == "2024-03-28T00:00:00+00:00"
    open_deal = opps.loc["0065g00000CCCCCCC3"]
    assert (open_deal["stage"], open_deal["outcome"]) == ("negotiation", "open")
    assert open_deal["closed_at"] is None or str(open_deal["closed_at"]) == "NaT"
    hs = opps.loc["hs-deal-9003"]
    assert (hs["stage"], hs["outcome"], hs["rep_id"]) == ("negotiation", "open", "hs-owner-71001")
    leads = store.read_table("leads").set_index("lead_id")
    assert leads.loc["00Q5g00000DDDDDDD1", "converted"]
    assert str(leads.loc["00Q5g00000DDDDDDD3", "converted"]) == "<NA>"  # still open
    tx = store.read_table("transactions")
    assert sorted(tx["amount"]) == sorted(
        [Decimal("120000.00"), Decimal("9999.99"), Decimal("24000"), Decimal("18000.25")]
    )
    reps = store.read_table("reps").set_index("rep_id")
    assert reps.loc["0055g00000AAAAAAA2", "manager_id"] == "0055g00000AAAAAAA1"
    assert validate_tables({n: store.read_table(n) for n in store.table_names()}) == []

    code, out = _invoke("data", "summary", "--data-dir", data, "--json")
    assert code == 0
    assert json.loads(out)["tables"]["opportunities"]["rows_by_source"] == {
        "hubspot": 6, "salesforce": 6,
    }  # fmt: skip
    code, out = _invoke("data", "quality", "--data-dir", data, "--json")
    assert code == 0 and set(json.loads(out)["sources"]) == {"hubspot", "salesforce"}
    code, out = _invoke("data", "quality", "--data-dir", data)
    assert code == 0 and out.startswith("# Data-quality report")


def test_reimporting_a_source_replaces_its_rows(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    files = [str(p) for p in sorted((SAMPLES / "hubspot").glob("*.csv"))]
    args = ["data", "import", "--mapping", str(EXAMPLES / "hubspot_deals.yaml"), "--data-dir", data]
    assert _invoke(*args, *files)[0] == 0
    assert _invoke(*args, *files)[0] == 0
    assert len(open_store(data).read_table("opportunities")) == 6
    code, _ = _invoke(*args, "--append", *files)
    assert code == 3  # appending the same deals again would duplicate their ids


def test_summary_and_quality_on_an_empty_store(tmp_path: Path) -> None:
    assert _invoke("data", "summary", "--data-dir", str(tmp_path))[0] == 4
    assert _invoke("data", "quality", "--data-dir", str(tmp_path))[0] == 4


def test_missing_files_and_bad_mapping(tmp_path: Path) -> None:
    code, _ = _invoke("data", "import", "--mapping", str(tmp_path / "nope.yaml"), "x.csv")
    assert code == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "source: x\nfiles:\n  - match: '*.csv'\n    outputs: [{table: nope, columns: {}}]\n"
    )
    sample = SAMPLES / "hubspot" / "deals.csv"
    result = CliRunner().invoke(app, ["data", "import", "--mapping", str(bad), str(sample)])
    assert result.exit_code == 3
    assert "files[0].outputs[0].table" in result.output


def test_schema_command() -> None:
    code, out = _invoke("data", "schema", "--json")
    assert code == 0
    schema = json.loads(out)
    assert schema["transactions"]["primary_key"] == ["transaction_id", "rep_id"]
    code, out = _invoke("data", "schema")
    assert "### `opportunities`" in out


def test_unreachable_database_is_exit_6() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    assert _invoke("data", "summary", "--store", url)[0] == 6
    assert _invoke("data", "quality", "--store", url)[0] == 6


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    files = [str(p) for p in sorted((SAMPLES / "hubspot").glob("*.csv"))]
    mapping = str(EXAMPLES / "hubspot_deals.yaml")
    data = tmp_path / "data"
    code, out = _invoke(
        "data", "import", "-m", mapping, "--data-dir", str(data), "--dry-run", *files
    )
    assert code == 0 and "dry run, nothing written" in out
    assert not data.exists()
