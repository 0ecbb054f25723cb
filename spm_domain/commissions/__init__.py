"""The commission engine: plans as data, exact payout lines and statements.

Public API (see docs/commissions.md):

- `load_plan(path | dict | Plan) -> Plan`, `plan_json_schema()`, `PlanValidationError`
- `calculate_commissions(plan, transactions, quotas=None, roster=None, fx=None,
  periods=None) -> CommissionResult` with `.lines`, `.statements` (Decimal object
  columns) and `.manifest`
- `write_run(result, out_dir)`: lines.csv, statements.csv, run.json, all or nothing
- `estimate_earnings(plan, rep_id, open_deals, ...)`: what each open deal would add
"""

from spm_domain.commissions.engine import (
    ENGINE_VERSION,
    LINE_COLUMNS,
    STATEMENT_COLUMNS,
    CommissionResult,
    calculate_commissions,
)
from spm_domain.commissions.estimate import estimate_earnings
from spm_domain.commissions.output import OutputDirectoryError, run_documents, write_run
from spm_domain.commissions.plan import Plan, PlanValidationError, load_plan, plan_json_schema
from spm_domain.commissions.tables import CommissionInputError

__all__ = [
    "ENGINE_VERSION",
    "LINE_COLUMNS",
    "STATEMENT_COLUMNS",
    "CommissionInputError",
    "CommissionResult",
    "OutputDirectoryError",
    "Plan",
    "PlanValidationError",
    "calculate_commissions",
    "estimate_earnings",
    "load_plan",
    "plan_json_schema",
    "run_documents",
    "write_run",
]
