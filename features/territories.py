"""Territory crediting: who is credited with a sale for quota attainment.

Most sources credit a sale to the rep on the order (`transactions.rep_id`).
Some measure a salesperson against every sale in their assigned territories
instead: AdventureWorks' monthly targets are set that way (its SOURCE.md),
and a salesperson may cover several territories, which the canonical `reps`
table cannot hold. A *territory assignment* table (`source`, `region`,
`rep_id`) switches a source to territory crediting in the feature tables
(`features.feature_tables`): each sale line of that source counts in full for
every rep assigned to the line's `transactions.region`. Commission
calculation is unaffected; it always uses the canonical credits.

`shared_territory_assignments` reads the AdventureWorks assignments from the
shared data folder; your own CRM can supply the same three columns as CSV
(`spm features apply --territory-assignments FILE`).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pandas as pd

ASSIGNMENT_COLUMNS: tuple[str, ...] = ("source", "region", "rep_id")
ADVENTUREWORKS_SOURCE = "adventureworks_pl300"
ADVENTUREWORKS_ASSIGNMENTS = Path(
    "data/adventureworks_sales_targets/pl300_dw2020/SalespersonRegion.csv"
)


log = logging.getLogger(__name__)


class TerritoryAssignmentError(ValueError):
    """A territory assignment table that cannot be used; names file, row and column."""


def validate_assignments(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """The three columns as strings, without duplicates; errors name `origin` and the row."""
    missing = [c for c in ASSIGNMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise TerritoryAssignmentError(f"{origin}: missing column(s) {', '.join(missing)}")
    out = frame.loc[:, list(ASSIGNMENT_COLUMNS)].copy()
    for column in ASSIGNMENT_COLUMNS:
        blank = out[column].isna() | (out[column].astype(str).str.strip() == "")
        if blank.any():
            row = int(blank.to_numpy().nonzero()[0][0]) + 1
            raise TerritoryAssignmentError(f"{origin}: row {row}, column {column}: empty value")
        out[column] = out[column].astype(str).str.strip()
    return out.drop_duplicates().reset_index(drop=True)


def read_assignments(path: Path) -> pd.DataFrame:
    """A user's assignment CSV (`source,region,rep_id`)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TerritoryAssignmentError(f"{path}: cannot be read as CSV ({exc})") from None
    return validate_assignments(frame.replace("", pd.NA), str(path))


def shared_territory_assignments(shared_dir: Path, org_units: pd.DataFrame) -> pd.DataFrame | None:
    """AdventureWorks salesperson → territory assignments from the shared data
    (None when the file is absent or AdventureWorks is not imported), with territories named as
    `transactions.region` names them (the org unit carrying `attr_sales_territory_key`)."""
    path = Path(shared_dir) / ADVENTUREWORKS_ASSIGNMENTS
    if not path.is_file():
        return None
    if (
        "attr_sales_territory_key" not in org_units.columns
        or not (org_units["source"] == ADVENTUREWORKS_SOURCE).any()
    ):
        log.info("territory assignments: AdventureWorks is not imported; nothing to credit")
        return None
    raw = pd.read_csv(path, dtype=str)
    for column in ("EmployeeKey", "SalesTerritoryKey"):
        if column not in raw.columns:
            raise TerritoryAssignmentError(f"{path}: missing column {column}")
    units = org_units[org_units["source"] == ADVENTUREWORKS_SOURCE].dropna(
        subset=["attr_sales_territory_key"]
    )
    names = dict(
        zip(units["attr_sales_territory_key"].astype(str), units["name"].astype(str), strict=True)
    )
    unknown = sorted(set(raw["SalesTerritoryKey"]) - set(names))
    if unknown:
        raise TerritoryAssignmentError(f"{path}: unknown SalesTerritoryKey value(s) {unknown}")
    frame = pd.DataFrame(
        {
            "source": ADVENTUREWORKS_SOURCE,
            "region": raw["SalesTerritoryKey"].map(names),
            "rep_id": "aw-" + raw["EmployeeKey"],
        }
    )
    return validate_assignments(frame, str(path))


def territory_credits(transactions: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Transactions with the lines of assigned sources re-credited by territory.

    For a source named in `assignments`, each line (once per `transaction_id`,
    whatever its splits) is credited in full (`share` 1) to every rep assigned
    to its `region`; lines of a region nobody covers credit no rep. Lines of
    other sources are returned unchanged.
    """
    if assignments.empty or transactions.empty:
        return transactions
    for column in ("transaction_id", "source", "region"):
        if column not in transactions.columns:
            raise TerritoryAssignmentError(
                f"table transactions: missing column {column} (needed for territory crediting)"
            )
    covered = transactions["source"].astype("string").isin(set(assignments["source"]))
    lines = transactions.loc[covered.fillna(False).to_numpy()].drop_duplicates("transaction_id")
    lines = lines.drop(columns=["rep_id"]).assign(
        source=lambda f: f["source"].astype(str), region=lambda f: f["region"].astype("string")
    )
    credited = lines.merge(
        assignments.assign(region=assignments["region"].astype("string")),
        on=["source", "region"],
        how="inner",
    )
    credited["share"] = Decimal(1)
    kept = transactions.loc[~covered.fillna(False).to_numpy()]
    parts = [part for part in (kept, credited[transactions.columns]) if len(part)]
    if not parts:
        return transactions.iloc[0:0]
    return (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
