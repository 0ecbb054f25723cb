"""From the commission engine's result to ledger run inputs (one per period).

The only module of the ledger that knows the engine's shape: `.lines` and
`.statements` DataFrames with Decimal object columns and a `.manifest` with
`plan: {id, sha256}` and `inputs: {table: {sha256, rows}}`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spm_domain.ledger.errors import InvalidRunError
from spm_domain.ledger.records import LineRecord, RunInput, StatementRecord
from spm_domain.money import to_decimal

if TYPE_CHECKING:
    from spm_domain.commissions import CommissionResult


def _optional_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None  # missing (pandas may hold NaN for an absent object value)
    return to_decimal(value)


def manifest_key_parts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Plan id/version/hash, input hashes and engine version from an engine manifest."""
    plan = manifest.get("plan") or {}
    plan_hash = plan.get("sha256") or plan.get("hash") or manifest.get("plan_hash")
    if not plan_hash:
        raise InvalidRunError("run manifest: no plan hash (plan.sha256)")
    inputs = manifest.get("inputs") or manifest.get("input_hashes") or {}
    hashes = {
        str(name): str(value.get("sha256") if isinstance(value, Mapping) else value)
        for name, value in inputs.items()
    }
    return {
        "plan_id": str(plan.get("id") or manifest.get("plan_id") or "plan"),
        "plan_version": str(plan.get("version") or f"sha256:{str(plan_hash)[:12]}"),
        "plan_hash": str(plan_hash),
        "input_hashes": hashes,
        "engine_version": str(manifest.get("engine_version") or ""),
    }


def run_inputs_from_records(
    key_parts: Mapping[str, Any],
    lines: Sequence[LineRecord],
    statements: Sequence[StatementRecord],
    periods: Sequence[str] | None = None,
) -> list[RunInput]:
    """Group lines and statements by period into one RunInput each."""
    by_period: dict[str, list[LineRecord]] = defaultdict(list)
    for line in lines:
        by_period[line.period].append(line)
    statements_by_period: dict[str, list[StatementRecord]] = defaultdict(list)
    for statement in statements:
        statements_by_period[statement.period].append(statement)
    found = sorted(set(by_period) | set(statements_by_period))
    wanted = list(periods) if periods else found
    missing = [p for p in wanted if p not in found]
    if missing:
        raise InvalidRunError(f"the run has no line or statement for period(s) {missing}")
    return [
        RunInput(
            plan_id=key_parts["plan_id"],
            plan_version=key_parts["plan_version"],
            plan_hash=key_parts["plan_hash"],
            period=period,
            input_hashes=key_parts["input_hashes"],
            lines=tuple(by_period.get(period, ())),
            statements=tuple(statements_by_period.get(period, ())),
            engine_version=key_parts["engine_version"],
        )
        for period in wanted
    ]


def run_inputs_from_result(
    result: CommissionResult, periods: Sequence[str] | None = None
) -> list[RunInput]:
    """The engine's result as ledger run inputs."""
    lines = [
        LineRecord(
            rep_id=str(row["rep_id"]),
            period=str(row["period"]),
            component=str(row["component"]),
            amount=to_decimal(row["amount"]),
            currency=str(row["currency"]),
            transaction_id=str(row["transaction_id"] or ""),
            credited_amount=_optional_decimal(row["credited_amount"]),
            rate=_optional_decimal(row["rate"]),
            explanation=str(row["explanation"] or ""),
        )
        for row in result.lines.to_dict("records")
    ]
    statements = [
        StatementRecord(
            rep_id=str(row["rep_id"]),
            period=str(row["period"]),
            credited=to_decimal(row["credited"]),
            gross=to_decimal(row["gross"]),
            adjustments=to_decimal(row["adjustments"]),
            payout=to_decimal(row["payout"]),
            currency=str(row["currency"]),
            quota=_optional_decimal(row["quota"]),
            attainment=_optional_decimal(row["attainment"]),
        )
        for row in result.statements.to_dict("records")
    ]
    return run_inputs_from_records(manifest_key_parts(result.manifest), lines, statements, periods)


def calculate_run_inputs(
    *,
    plan: Path,
    transactions: Path,
    quotas: Path | None,
    roster: Path | None,
    fx: Path | None,
    periods: Sequence[str],
) -> list[RunInput]:
    """Run the commission engine on files and return one run input per period."""
    from spm_domain.commissions import calculate_commissions

    result = calculate_commissions(
        str(plan), transactions, quotas, roster, fx, periods=list(periods) or None
    )
    return run_inputs_from_result(result)
