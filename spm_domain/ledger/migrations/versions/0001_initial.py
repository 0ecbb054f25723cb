"""Initial ledger schema: runs, lines, approvals, disputes, payments, periods,
plan versions, settings and the append-only audit log (with triggers).

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from spm_domain.ledger.types import ExactDecimal

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

AMOUNT = ExactDecimal(24, 6)
MEASURE = ExactDecimal(38, 12)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _create_tables() -> None:
    op.create_table(
        "ledger_settings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_ledger_settings"),
    )
    op.create_table(
        "ledger_periods",
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_by", sa.String(128), nullable=True),
        _ts("closed_at", nullable=True),
        sa.PrimaryKeyConstraint("period", name="pk_ledger_periods"),
    )
    op.create_table(
        "ledger_plan_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(128), nullable=False),
        sa.Column("plan_version", sa.String(64), nullable=False),
        sa.Column("plan_hash", sa.String(128), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        _ts("registered_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_plan_versions"),
        sa.UniqueConstraint(
            "plan_id", "plan_hash", name="uq_ledger_plan_versions_plan_id_plan_hash"
        ),
    )
    op.create_table(
        "ledger_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("run_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("plan_id", sa.String(128), nullable=False),
        sa.Column("plan_version", sa.String(64), nullable=False),
        sa.Column("plan_hash", sa.String(128), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("booked_period", sa.String(32), nullable=False),
        sa.Column("input_hashes", sa.Text(), nullable=False),
        sa.Column("engine_version", sa.String(64), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("posted_by", sa.String(128), nullable=False),
        _ts("posted_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_runs"),
        sa.UniqueConstraint("run_key", name="uq_ledger_runs_run_key"),
    )
    op.create_table(
        "ledger_run_statements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("rep_id", sa.String(128), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("credited", MEASURE, nullable=False),
        sa.Column("quota", MEASURE, nullable=True),
        sa.Column("attainment", MEASURE, nullable=True),
        sa.Column("gross", AMOUNT, nullable=False),
        sa.Column("adjustments", AMOUNT, nullable=False),
        sa.Column("payout", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ledger_runs.id"], name="fk_ledger_run_statements_run_id_ledger_runs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_run_statements"),
    )
    op.create_index("ix_ledger_run_statements_run_id", "ledger_run_statements", ["run_id"])
    op.create_index(
        "ix_ledger_run_statements_rep_id_period", "ledger_run_statements", ["rep_id", "period"]
    )
    op.create_table(
        "ledger_payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("rep_id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("paid_by", sa.String(128), nullable=False),
        _ts("paid_at"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_payments"),
    )
    op.create_index("ix_ledger_payments_period", "ledger_payments", ["period"])
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rep_id", sa.String(128), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("earned_period", sa.String(32), nullable=False),
        sa.Column("plan_id", sa.String(128), nullable=True),
        sa.Column("component", sa.String(128), nullable=False),
        sa.Column("transaction_id", sa.String(128), nullable=False),
        sa.Column("credited_amount", MEASURE, nullable=True),
        sa.Column("rate", MEASURE, nullable=True),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_before_dispute", sa.String(16), nullable=True),
        sa.Column("corrects_line_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["ledger_runs.id"], name="fk_ledger_lines_run_id_ledger_runs"
        ),
        sa.ForeignKeyConstraint(
            ["corrects_line_id"],
            ["ledger_lines.id"],
            name="fk_ledger_lines_corrects_line_id_ledger_lines",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["ledger_payments.id"],
            name="fk_ledger_lines_payment_id_ledger_payments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_lines"),
    )
    op.create_index("ix_ledger_lines_run_id", "ledger_lines", ["run_id"])
    op.create_index("ix_ledger_lines_rep_id_period", "ledger_lines", ["rep_id", "period"])
    op.create_index(
        "ix_ledger_lines_plan_id_earned_period", "ledger_lines", ["plan_id", "earned_period"]
    )
    op.create_index("ix_ledger_lines_status", "ledger_lines", ["status"])
    op.create_table(
        "ledger_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(64), nullable=False),
        sa.Column("approver", sa.String(128), nullable=False),
        _ts("approved_at"),
        sa.ForeignKeyConstraint(
            ["line_id"], ["ledger_lines.id"], name="fk_ledger_approvals_line_id_ledger_lines"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_approvals"),
        sa.UniqueConstraint("line_id", "level", name="uq_ledger_approvals_line_id_level"),
    )
    op.create_table(
        "ledger_disputes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_by", sa.String(128), nullable=False),
        _ts("raised_at"),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        _ts("resolved_at", nullable=True),
        sa.Column("adjustment_line_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["line_id"], ["ledger_lines.id"], name="fk_ledger_disputes_line_id_ledger_lines"
        ),
        sa.ForeignKeyConstraint(
            ["adjustment_line_id"],
            ["ledger_lines.id"],
            name="fk_ledger_disputes_adjustment_line_id_ledger_lines",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_disputes"),
    )
    op.create_index("ix_ledger_disputes_line_id", "ledger_disputes", ["line_id"])
    op.create_table(
        "ledger_dispute_comments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["ledger_disputes.id"],
            name="fk_ledger_dispute_comments_dispute_id_ledger_disputes",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_dispute_comments"),
    )
    op.create_index(
        "ix_ledger_dispute_comments_dispute_id", "ledger_dispute_comments", ["dispute_id"]
    )
    op.create_table(
        "ledger_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_audit"),
    )
    op.create_index(
        "ix_ledger_audit_entity_type_entity_id", "ledger_audit", ["entity_type", "entity_id"]
    )


# The database itself refuses to rewrite history, whatever client connects:
# the audit log can only grow, and a paid line can be neither changed nor
# deleted (corrections are new adjustment lines).
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_audit_no_update BEFORE UPDATE ON ledger_audit
       BEGIN SELECT RAISE(ABORT, 'ledger_audit is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_audit_no_delete BEFORE DELETE ON ledger_audit
       BEGIN SELECT RAISE(ABORT, 'ledger_audit is append-only: DELETE refused'); END""",
    """CREATE TRIGGER ledger_lines_paid_immutable BEFORE UPDATE ON ledger_lines
       WHEN OLD.status = 'paid'
       BEGIN SELECT RAISE(ABORT, 'paid ledger lines are immutable: post an adjustment'); END""",
    """CREATE TRIGGER ledger_lines_no_delete BEFORE DELETE ON ledger_lines
       BEGIN SELECT RAISE(ABORT, 'ledger lines are never deleted: post an adjustment'); END""",
)

_POSTGRES_TRIGGERS = (
    """CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE FUNCTION ledger_refuse_paid_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN
           RAISE EXCEPTION 'ledger lines are never deleted: post an adjustment'
             USING ERRCODE = 'insufficient_privilege';
         END IF;
         IF OLD.status = 'paid' THEN
           RAISE EXCEPTION 'paid ledger lines are immutable: post an adjustment'
             USING ERRCODE = 'insufficient_privilege';
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER ledger_audit_append_only BEFORE UPDATE OR DELETE ON ledger_audit
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_audit_no_truncate BEFORE TRUNCATE ON ledger_audit
       FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()""",
    """CREATE TRIGGER ledger_lines_guard BEFORE UPDATE OR DELETE ON ledger_lines
       FOR EACH ROW EXECUTE FUNCTION ledger_refuse_paid_line_change()""",
)


def upgrade() -> None:
    _create_tables()
    dialect = op.get_bind().dialect.name
    triggers = _POSTGRES_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_audit_append_only ON ledger_audit")
        op.execute("DROP TRIGGER IF EXISTS ledger_audit_no_truncate ON ledger_audit")
        op.execute("DROP TRIGGER IF EXISTS ledger_lines_guard ON ledger_lines")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_paid_line_change()")
    for table in (
        "ledger_audit",
        "ledger_dispute_comments",
        "ledger_disputes",
        "ledger_approvals",
        "ledger_lines",
        "ledger_payments",
        "ledger_run_statements",
        "ledger_runs",
        "ledger_plan_versions",
        "ledger_periods",
        "ledger_settings",
    ):
        op.drop_table(table)
