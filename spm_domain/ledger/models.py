"""The ledger's tables (SQLAlchemy 2 declarative). The schema itself is created
by the Alembic migrations in `migrations/`; these classes must match them
(a test compares the two)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spm_domain.ledger.types import ExactDecimal

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Amounts are rounded to a currency's minor unit (at most 3 decimals, ISO 4217)
# before they reach the ledger; six decimals leave room without float.
AMOUNT = ExactDecimal(24, 6)
# Credited amounts, rates and attainment ratios keep more digits.
MEASURE = ExactDecimal(38, 12)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Setting(Base):
    __tablename__ = "ledger_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PeriodRow(Base):
    __tablename__ = "ledger_periods"

    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    closed_by: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PlanVersion(Base):
    __tablename__ = "ledger_plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "plan_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(128))
    plan_version: Mapped[str] = mapped_column(String(64))
    plan_hash: Mapped[str] = mapped_column(String(128))
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Run(Base):
    __tablename__ = "ledger_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    plan_id: Mapped[str] = mapped_column(String(128))
    plan_version: Mapped[str] = mapped_column(String(64))
    plan_hash: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(32))
    booked_period: Mapped[str] = mapped_column(String(32))
    input_hashes: Mapped[str] = mapped_column(Text)
    engine_version: Mapped[str] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    posted_by: Mapped[str] = mapped_column(String(128))
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunStatement(Base):
    __tablename__ = "ledger_run_statements"
    __table_args__ = (Index(None, "rep_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("ledger_runs.id"), index=True)
    rep_id: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(32))
    credited: Mapped[Decimal] = mapped_column(MEASURE)
    quota: Mapped[Decimal | None] = mapped_column(MEASURE)
    attainment: Mapped[Decimal | None] = mapped_column(MEASURE)
    gross: Mapped[Decimal] = mapped_column(AMOUNT)
    adjustments: Mapped[Decimal] = mapped_column(AMOUNT)
    payout: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))


class Payment(Base):
    __tablename__ = "ledger_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(32), index=True)
    rep_id: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    line_count: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(128))
    paid_by: Mapped[str] = mapped_column(String(128))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Line(Base):
    __tablename__ = "ledger_lines"
    __table_args__ = (
        Index(None, "rep_id", "period"),
        Index(None, "plan_id", "earned_period"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    rep_id: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(32))
    earned_period: Mapped[str] = mapped_column(String(32))
    plan_id: Mapped[str | None] = mapped_column(String(128))
    component: Mapped[str] = mapped_column(String(128))
    transaction_id: Mapped[str] = mapped_column(String(128))
    credited_amount: Mapped[Decimal | None] = mapped_column(MEASURE)
    rate: Mapped[Decimal | None] = mapped_column(MEASURE)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    explanation: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    status_before_dispute: Mapped[str | None] = mapped_column(String(16))
    corrects_line_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_lines.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_payments.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Approval(Base):
    __tablename__ = "ledger_approvals"
    # One approval per line and level, enforced by the database itself: the
    # last line of defence against two approvers racing.
    __table_args__ = (UniqueConstraint("line_id", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("ledger_lines.id"))
    level: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(128))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Dispute(Base):
    __tablename__ = "ledger_disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("ledger_lines.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(128))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    adjustment_line_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_lines.id"))


class DisputeComment(Base):
    __tablename__ = "ledger_dispute_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("ledger_disputes.id"), index=True)
    author: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "ledger_audit"
    __table_args__ = (Index(None, "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
