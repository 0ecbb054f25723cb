"""The mapping language: validation errors name the YAML key; each feature does what
docs/importing.md says; amounts stay exact."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from features.ingest.mapping import MappingError, load_mapping, parse_mapping
from features.ingest.transform import snake_case, transform

REPS_OUTPUT: dict[str, Any] = {
    "table": "reps",
    "columns": {"rep_id": "id", "currency": {"value": "USD"}},
}


def _mapping(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"source": "t", "files": [{"match": "*.csv", "outputs": [REPS_OUTPUT]}]}
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (_mapping(files=[{"match": "*.csv", "outputs": [{"table": "repz", "columns": {}}]}]),
         "files[0].outputs[0].table: Value error, unknown table 'repz'"),
        (_mapping(files=[{"match": "*.csv", "outputs": [{"table": "reps", "columns": {"rep_id": "id"}}]}]),
         "files[0].outputs[0]: Value error, table reps needs column(s) currency"),
        (_mapping(files=[{"match": "*.csv", "outputs": [{"table": "reps", "columns": {
            "rep_id": {"from": "id", "value": "x"}, "currency": {"value": "USD"}}}]}]),
         "files[0].outputs[0].columns.rep_id: Value error, give exactly one of"),
        (_mapping(files=[{"match": "*.csv", "outputs": [{"table": "reps", "columns": {
            "rep_id": "id", "currency": {"value": "USD"}, "salary": "s"}}]}]),
         "column 'salary' is not in table reps"),
        (_mapping(files=[{"match": "*.csv", "outputs": [{"table": "quotas", "columns": {
            "rep_id": "r", "period": "p", "measure": {"value": "revenue"},
            "quota": {"from": "q", "multiply": "a lot"}}}]}]),
         "columns.quota: Value error, multiply 'a lot' is not a decimal number"),
        (_mapping(timezone="Mars/Olympus"), "timezone: Value error, unknown timezone 'Mars/Olympus'"),
        (_mapping(surprise=1), "surprise: Extra inputs are not permitted"),
        (_mapping(files=[]), "files: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_mapping_errors_name_the_yaml_key(document: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(document, origin="m.yaml")
    assert fragment in str(err.value)
    assert "m.yaml" in str(err.value)


def test_load_mapping_reports_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: [unclosed", "utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(path)
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "missing.yaml")


def test_shipped_mappings_are_valid() -> None:
    root = Path(__file__).resolve().parents[3] / "features" / "ingest" / "mappings"
    paths = sorted(root.rglob("*.yaml"))
    assert len(paths) >= 8
    for path in paths:
        load_mapping(path)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_language_features(tmp_path: Path) -> None:
    targets = _write(
        tmp_path,
        "targets.csv",
        "Year,Emp,M01,M02\n2024,e1,1.5,-\n2024,e2,-,0.1\n",
    )
    people = _write(tmp_path, "people.csv", "Key,Emp,Name,Office\n7,e1,Ann,North\n8,e2,Bo,North\n")
    mapping = parse_mapping(
        yaml.safe_load(
            """
source: feat
files:
  - match: people.csv
    clean:
      - {columns: [Name], replace: {Bo: Bob}, reason: nickname}
    outputs:
      - table: reps
        columns:
          rep_id: {from: Key, prefix: "p-"}
          name: Name
          currency: {value: EUR}
          attr_line: {template: "{Key}@{_row}"}
      - table: org_units
        distinct: [Office]
        columns:
          unit_id: {template: "region:{Office}"}
          kind: {value: region}
          name: {from: Office, case: upper}
          parent_id: {value: "co"}
  - match: targets.csv
    clean:
      - {columns: [M01, M02], to_missing: ["-"]}
    outputs:
      - table: quotas
        unpivot: {columns: {M01: "01", M02: "02"}, key: Month, value: Target}
        not_null: [Target]
        columns:
          rep_id: {from: Emp, lookup: {file: people.csv, key: Emp, value: Key}, prefix: "p-"}
          period: {template: "{Year}-{Month}"}
          measure: {value: revenue}
          quota: {from: Target, multiply: "1000"}
          currency: {value: EUR}
"""
        )
    )
    result = transform(mapping, [people, targets])
    assert result.issues == []
    reps = result.tables["reps"]
    assert reps["rep_id"].tolist() == ["p-7", "p-8"]
    assert reps["name"].tolist() == ["Ann", "Bob"]
    assert reps["attr_line"].tolist() == ["7@2", "8@3"]
    units = result.tables["org_units"]
    assert units[["unit_id", "name"]].values.tolist() == [["region:North", "NORTH"]]
    quotas = result.tables["quotas"]
    assert quotas[["rep_id", "period"]].values.tolist() == [["p-7", "2024-01"], ["p-8", "2024-02"]]
    assert quotas["quota"].tolist() == [Decimal("1500.0"), Decimal("100.0")]
    assert quotas["_src_row"].tolist() == [2, 3]
    fixes = {(f.column, f.original, f.replacement, f.rows) for f in result.report.fixes}
    assert fixes == {
        ("Name", "Bo", "Bob", (3,)),
        ("M02", "-", None, (2,)),
        ("M01", "-", None, (3,)),
    }


def test_amounts_are_exact_and_floats_never_used(tmp_path: Path) -> None:
    deals = _write(
        tmp_path,
        "deals.csv",
        "id,amount\na,0.1\nb,0.2\nc,12345678901234567890.000000000001\n",
    )
    mapping = parse_mapping(
        {
            "source": "exact",
            "files": [{"match": "deals.csv", "outputs": [{"table": "transactions", "columns": {
                "transaction_id": "id", "rep_id": {"value": "r"}, "amount": "amount",
                "currency": {"value": "USD"}, "credit_date": {"value": "2024-01-01"},
                "share": {"value": "1"}}}]}],
        }
    )  # fmt: skip
    amounts = transform(mapping, [deals]).tables["transactions"]["amount"].tolist()
    assert amounts[0] + amounts[1] == Decimal("0.3")
    assert amounts[2] == Decimal("12345678901234567890.000000000001")


def test_dedupe_rejects_and_reports_rows(tmp_path: Path) -> None:
    rows = _write(tmp_path, "d.csv", "n,x\n1,a\n2,b\n1,a\n1,c\n")
    mapping = parse_mapping(
        {"source": "d", "files": [{"match": "d.csv", "dedupe": {"key": "n"}, "outputs": [
            {"table": "reps", "columns": {"rep_id": "n", "currency": {"value": "USD"}}}]}]}
    )  # fmt: skip
    result = transform(mapping, [rows])
    assert result.tables["reps"]["rep_id"].tolist() == ["1", "2"]
    assert [(r.row, r.reason.split(";")[0]) for r in result.report.rejections] == [
        (4, "duplicate n of row 2 (exact duplicate)"),
        (5, "duplicate n of row 2 (same key, other values differ)"),
    ]


def test_timestamps_are_utc_and_dates_local(tmp_path: Path) -> None:
    leads = _write(
        tmp_path, "l.csv", "id,created\na,2024-03-31 01:30\nb,2024-06-01T12:00:00+02:00\n"
    )
    mapping = parse_mapping(
        {"source": "tz", "timezone": "Europe/Paris", "files": [{"match": "l.csv", "outputs": [
            {"table": "leads", "columns": {"lead_id": "id", "created_at": "created",
                                            "attr_day": {"from": "created", "type": "date"}}}]}]}
    )  # fmt: skip
    result = transform(mapping, [leads])
    created = result.tables["leads"]["created_at"]
    assert str(created.dtype) == "datetime64[ns, UTC]"
    assert [t.isoformat() for t in created] == [
        "2024-03-31T00:30:00+00:00",
        "2024-06-01T10:00:00+00:00",
    ]


def test_value_map_refuses_unknown_values(tmp_path: Path) -> None:
    deals = _write(tmp_path, "o.csv", "id,stage\na,Won\nb,Maybe\n")
    mapping = parse_mapping(
        {"source": "m", "files": [{"match": "o.csv", "outputs": [{"table": "opportunities", "columns": {
            "opportunity_id": "id",
            "stage": {"from": "stage", "map": {"Won": "won"}},
            "outcome": {"from": "stage", "map": {"Won": "won"}, "unmapped": "null"}}}]}]}
    )  # fmt: skip
    issues = transform(mapping, [deals]).issues
    assert [(i.file, i.row, i.column, i.value) for i in issues] == [("o.csv", 3, "stage", "Maybe")]
    assert "not in the mapping's value map" in issues[0].reason


def test_snake_case() -> None:
    assert snake_case("Total Time Spent on Website") == "total_time_spent_on_website"
    assert snake_case("Revenue From Client Past Two Years") == "revenue_from_client_past_two_years"
    assert snake_case("hs_object_id") == "hs_object_id"
    assert snake_case("StageName") == "stage_name"


def test_lookup_chain_and_ambiguous_keys(tmp_path: Path) -> None:
    people = _write(tmp_path, "people.csv", "emp\n1\n2\n3\n")
    cover = _write(tmp_path, "cover.csv", "emp,terr\n1,10\n2,10\n2,20\n")
    terr = _write(tmp_path, "terr.csv", "terr,name\n10,North\n20,South\n")
    lookups = [
        {"file": "cover.csv", "key": "emp", "value": "terr", "missing": "null", "multiple": "null"},
        {"file": "terr.csv", "key": "terr", "value": "name"},
    ]
    document = {
        "source": "chain",
        "files": [
            {"match": "people.csv", "outputs": [{"table": "reps", "columns": {
                "rep_id": "emp", "currency": {"value": "USD"},
                "team_id": {"from": "emp", "lookup": lookups, "prefix": "team:"}}}]},
            {"match": "cover.csv"},
            {"match": "terr.csv"},
        ],
    }  # fmt: skip
    result = transform(parse_mapping(document), [people, cover, terr])
    assert result.issues == []
    teams = result.tables["reps"]["team_id"].tolist()
    assert teams[0] == "team:North" and pd.isna(teams[1]) and pd.isna(teams[2])
    lookups[0]["multiple"] = "error"
    issues = transform(parse_mapping(document), [people, cover, terr]).issues
    assert [(i.row, i.value) for i in issues] == [(3, "2")]
    assert "several different terr values in cover.csv" in issues[0].reason


def test_parquet_input(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "deals.parquet"
    table = pa.table(
        {
            "Id": ["o1", "o2"],
            "Amount": pa.array([Decimal("10.25"), None], type=pa.decimal128(12, 2)),
            "Won": [True, False],
            "Created": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC), None], type=pa.timestamp("us", "UTC")
            ),
        }
    )
    pq.write_table(table, path)
    mapping = parse_mapping(
        {"source": "pq", "files": [{"match": "*.parquet", "outputs": [{"table": "opportunities", "columns": {
            "opportunity_id": "Id", "amount": "Amount", "created_at": "Created",
            "stage": {"from": "Won", "map": {"True": "won", "False": "lost"}},
            "outcome": {"from": "Won", "map": {"True": "won", "False": "lost"}},
            "attr_won": {"from": "Won", "type": "boolean"}}}]}]}
    )  # fmt: skip
    result = transform(mapping, [path])
    assert result.issues == []
    opps = result.tables["opportunities"]
    assert opps["amount"].tolist() == [Decimal("10.25"), None]
    assert opps["created_at"].iloc[0].isoformat() == "2024-01-02T03:04:00+00:00"
    assert opps["stage"].tolist() == ["won", "lost"] and opps["attr_won"].tolist() == [True, False]
    assert opps["_src_row"].tolist() == [1, 2]
