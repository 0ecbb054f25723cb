"""The payout ledger: posting runs, approvals, disputes, adjustments, payments,
period closing and the audit log, each action in ONE database transaction.

Concurrency: every state change first locks the rows it reads
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers with BEGIN
IMMEDIATE) and then writes with a conditional UPDATE
(`WHERE status = <expected> AND version = <read>`) whose row count must match.
Two approvers or payers racing for one line therefore queue on the row lock;
the second one re-reads the line after the first commits, sees it changed and
gets a LedgerConflictError. The unique (line_id, level) constraint on approvals
is a third, database-level guarantee.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self, cast

from sqlalchemy import Engine, Table, case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from spm_domain.currency import get_currency
from spm_domain.errors import DomainError
from spm_domain.ids import check_id
from spm_domain.ledger.db import WRITE_OPTION, open_ledger_engine
from spm_domain.ledger.errors import (
    IllegalTransitionError,
    LedgerConflictError,
    LedgerError,
    LedgerNotFoundError,
)
from spm_domain.ledger.models import (
    Approval,
    AuditEntry,
    Dispute,
    DisputeComment,
    Line,
    Payment,
    PeriodRow,
    PlanVersion,
    Run,
    RunStatement,
    Setting,
)
from spm_domain.ledger.records import (
    AuditView,
    DisputeView,
    LineKind,
    LineRecord,
    LineStatus,
    LineView,
    PaymentView,
    PeriodView,
    PostResult,
    RunApproval,
    RunInput,
    RunView,
    StatementRecord,
    check_rounded,
    validate_run,
)
from spm_domain.periods import DEFAULT_CALENDAR, Calendar, parse_period

log = logging.getLogger(__name__)

DEFAULT_APPROVAL_LEVELS: tuple[str, ...] = ("manager", "finance")
_APPROVAL_SETTING = "approval_levels"
_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit
_MAX_PERIODS_AHEAD = 600
ProgressCallback = Callable[[int, int], None]
# Core tables for bulk inserts (plain executemany, no ORM bookkeeping per row).
_LINES = cast(Table, Line.__table__)
_RUN_STATEMENTS = cast(Table, RunStatement.__table__)
_APPROVALS = cast(Table, Approval.__table__)

_LineKey = tuple[str, str, str, str]  # rep_id, component, transaction_id, currency


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the ledger writes is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _money_text(amount: Decimal, currency: str) -> str:
    quantum = get_currency(currency).quantum
    return f"{amount.quantize(quantum):,} {currency}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return _aware(value).isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _dump(payload: dict[str, Any] | None) -> str | None:
    return None if payload is None else json.dumps(_jsonable(payload), sort_keys=True)


def _line_state(line: Line) -> dict[str, Any]:
    return {
        "status": line.status,
        "version": line.version,
        "amount": line.amount,
        "currency": line.currency,
        "payment_id": line.payment_id,
    }


class Ledger:
    """A payout ledger on one database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        calendar: Calendar = DEFAULT_CALENDAR,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._calendar = calendar
        self._clock = clock

    @classmethod
    def open(cls, url: str | None = None, *, schema: str | None = None) -> Self:
        """Open (and migrate to head) the ledger at `url` / $SPM_LEDGER_URL / the default."""
        return cls(open_ledger_engine(url, schema=schema))

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    # -- audit -------------------------------------------------------------
    def _audit(
        self,
        session: Session,
        actor: str,
        action: str,
        entity_type: str,
        entity_id: object,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        session.execute(
            insert(AuditEntry).values(
                at=self._clock(),
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id),
                before=_dump(before),
                after=_dump(after),
            )
        )

    def audit(
        self,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[AuditView]:
        """Audit entries, oldest first (the most recent `limit` when given)."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc())
        if entity_type:
            query = query.where(AuditEntry.entity_type == entity_type)
        if entity_id:
            query = query.where(AuditEntry.entity_id == entity_id)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action == action)
        if limit:
            query = query.limit(limit)
        with Session(self._engine) as session:
            rows = list(session.scalars(query))
        return [
            AuditView(
                id=row.id,
                at=_aware(row.at),
                actor=row.actor,
                action=row.action,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                before=json.loads(row.before) if row.before else None,
                after=json.loads(row.after) if row.after else None,
            )
            for row in reversed(rows)
        ]

    # -- settings ----------------------------------------------------------
    def approval_levels(self) -> tuple[str, ...]:
        with Session(self._engine) as session:
            return self._levels(session)

    @staticmethod
    def _levels(session: Session) -> tuple[str, ...]:
        raw = session.scalar(select(Setting.value).where(Setting.key == _APPROVAL_SETTING))
        return tuple(json.loads(raw)) if raw else DEFAULT_APPROVAL_LEVELS

    def set_approval_levels(self, levels: Sequence[str], actor: str) -> tuple[str, ...]:
        """Configure the approval chain (e.g. manager, then finance)."""
        check_id(actor, "actor")
        cleaned = tuple(level.strip() for level in levels)
        if not cleaned or any(not level for level in cleaned) or len(set(cleaned)) != len(cleaned):
            raise LedgerError(f"approval levels {list(levels)!r}: need distinct non-empty names")
        with self._transaction() as session:
            before = self._levels(session)
            partly = session.scalar(
                select(func.count(Line.id.distinct()))
                .join(Approval, Approval.line_id == Line.id)
                .where(Line.status == LineStatus.PENDING)
            )
            if partly and cleaned != before:
                raise LedgerConflictError(
                    f"{partly} pending line(s) are part-way through approval; finish or "
                    "dispute them before changing the approval levels"
                )
            setting = session.get(Setting, _APPROVAL_SETTING, with_for_update=True)
            if setting is None:
                session.add(Setting(key=_APPROVAL_SETTING, value=json.dumps(list(cleaned))))
            else:
                setting.value = json.dumps(list(cleaned))
            self._audit(
                session,
                actor,
                "settings.approval_levels",
                "settings",
                _APPROVAL_SETTING,
                {"levels": list(before)},
                {"levels": list(cleaned)},
            )
        return cleaned

    # -- periods -----------------------------------------------------------
    def _check_period(self, period: str) -> None:
        try:
            parse_period(period, self._calendar)
        except DomainError as exc:
            raise LedgerError(str(exc)) from None

    def _insert_ignore(self, session: Session) -> Any:
        dialect = session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PeriodRow)

    def _ensure_period(self, session: Session, period: str) -> None:
        stmt = self._insert_ignore(session).values(period=period, status="open")
        session.execute(stmt.on_conflict_do_nothing(index_elements=["period"]))

    @staticmethod
    def _is_open(session: Session, period: str) -> bool:
        status = session.scalar(select(PeriodRow.status).where(PeriodRow.period == period))
        return status != "closed"

    def _open_target(self, session: Session, closed: str, book_into: str | None) -> str:
        """Where to book what belongs to a closed period: `book_into`, else the next open one."""
        if book_into is not None:
            self._check_period(book_into)
            if not self._is_open(session, book_into):
                raise LedgerConflictError(f"period {book_into} is closed: choose an open period")
            return book_into
        current = parse_period(closed, self._calendar)
        for _ in range(_MAX_PERIODS_AHEAD):
            current = self._calendar.containing(current.end, current.kind)
            if self._is_open(session, current.key):
                return current.key
        raise LedgerConflictError(f"no open period after {closed}")

    def periods(self) -> list[PeriodView]:
        with Session(self._engine) as session:
            rows = list(session.scalars(select(PeriodRow).order_by(PeriodRow.period)))
        return [
            PeriodView(
                r.period, r.status, r.closed_by, _aware(r.closed_at) if r.closed_at else None
            )
            for r in rows
        ]

    def period_status(self, period: str) -> str:
        with Session(self._engine) as session:
            return "open" if self._is_open(session, period) else "closed"

    def close_period(self, period: str, actor: str) -> PeriodView:
        """Close a period: nothing new is booked into it afterwards (deltas go to an open one)."""
        check_id(actor, "actor")
        self._check_period(period)
        with self._transaction() as session:
            self._ensure_period(session, period)
            row = session.get(PeriodRow, period, with_for_update=True)
            assert row is not None
            if row.status == "closed":
                raise LedgerConflictError(f"period {period} is already closed (by {row.closed_by})")
            unsettled = session.scalar(
                select(func.count(Line.id)).where(
                    Line.period == period, Line.status != LineStatus.PAID
                )
            )
            row.status, row.closed_by, row.closed_at = "closed", actor, self._clock()
            self._audit(
                session,
                actor,
                "period.closed",
                "period",
                period,
                {"status": "open"},
                {"status": "closed", "unpaid_lines": unsettled},
            )
            if unsettled:
                log.warning("period %s closed with %d unpaid line(s)", period, unsettled)
            return PeriodView(period, "closed", actor, _aware(row.closed_at))

    # -- runs --------------------------------------------------------------
    def post_run(
        self,
        run: RunInput,
        actor: str,
        *,
        book_into: str | None = None,
        progress: ProgressCallback | None = None,
        batch_size: int = 1000,
    ) -> PostResult:
        """Post a run in one transaction; re-posting the same run key creates nothing.

        First post for a plan and period: its lines, booked in that period when open.
        Any later run for the same plan and period (a late deal, a plan fix) books
        only the differences as `delta` lines, in the period itself while it is
        open, else in `book_into` or the next open period: a closed period is
        never edited.
        """
        check_id(actor, "actor")
        validate_run(run)
        for attempt in range(3):
            try:
                with self._transaction() as session:
                    existing = session.scalar(select(Run).where(Run.run_key == run.run_key))
                    if existing is not None:
                        log.info("run %s already posted: nothing to do", existing.id)
                        return PostResult(self._run_view(existing), created=False)
                    view = self._post_new_run(session, run, actor, book_into, progress, batch_size)
                    return PostResult(view, created=True)
            except IntegrityError:
                # A concurrent transaction committed first: the same run (then the
                # loop returns it) or a shared first-time row such as the plan
                # version (then posting again succeeds).
                if attempt == 2:
                    raise
                log.info("run %s: concurrent post detected, retrying", run.run_id)
        raise AssertionError("unreachable")

    def _post_new_run(
        self,
        session: Session,
        run: RunInput,
        actor: str,
        book_into: str | None,
        progress: ProgressCallback | None,
        batch_size: int,
    ) -> RunView:
        now = self._clock()
        prior = self._booked_totals(session, run.plan_id, run.period)
        period_open = self._is_open(session, run.period)
        booked = run.period if period_open else self._open_target(session, run.period, book_into)
        as_first_post = not prior and booked == run.period
        lines = (
            [self._line_values(r, LineKind.COMMISSION, r.explanation) for r in run.lines]
            if as_first_post
            else self._delta_values(run, prior)
        )
        run_id = run.run_id  # derived from a hash: compute once, not per line
        for values in lines:
            values.update(
                run_id=run_id,
                period=booked,
                earned_period=run.period,
                plan_id=run.plan_id,
                status=LineStatus.PENDING,
                version=1,
                created_by=actor,
                created_at=now,
            )
        self._ensure_period(session, booked)
        self._register_plan_version(session, run, actor, now)
        row = Run(
            id=run_id,
            run_key=run.run_key,
            kind="calculation" if not prior else "recalculation",
            plan_id=run.plan_id,
            plan_version=run.plan_version,
            plan_hash=run.plan_hash,
            period=run.period,
            booked_period=booked,
            input_hashes=json.dumps(dict(sorted(run.input_hashes.items()))),
            engine_version=run.engine_version,
            line_count=len(lines),
            posted_by=actor,
            posted_at=now,
        )
        session.add(row)
        session.flush()
        done = 0
        for batch in _chunks(lines, batch_size):
            session.execute(insert(_LINES), list(batch))
            done += len(batch)
            if progress is not None:
                progress(done, len(lines))
        if run.statements:
            session.execute(
                insert(RunStatement),
                [self._statement_values(run.run_id, s) for s in run.statements],
            )
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for values in lines:
            totals[values["currency"]] += values["amount"]
        self._audit(
            session,
            actor,
            "run.posted",
            "run",
            run.run_id,
            None,
            {
                "run_key": run.run_key,
                "kind": row.kind,
                "plan_id": run.plan_id,
                "plan_version": run.plan_version,
                "plan_hash": run.plan_hash,
                "period": run.period,
                "booked_period": booked,
                "input_hashes": dict(run.input_hashes),
                "line_count": len(lines),
                "totals": dict(totals),
            },
        )
        log.info("posted %s (%s): %d line(s) booked in %s", row.id, row.kind, len(lines), booked)
        return self._run_view(row)

    @staticmethod
    def _line_values(record: LineRecord, kind: LineKind, explanation: str) -> dict[str, Any]:
        return {
            "kind": kind,
            "rep_id": record.rep_id,
            "component": record.component,
            "transaction_id": record.transaction_id or "",
            "credited_amount": record.credited_amount,
            "rate": record.rate,
            "amount": record.amount,
            "currency": record.currency,
            "explanation": explanation,
        }

    @staticmethod
    def _statement_values(run_id: str, s: StatementRecord) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "rep_id": s.rep_id,
            "period": s.period,
            "credited": s.credited,
            "quota": s.quota,
            "attainment": s.attainment,
            "gross": s.gross,
            "adjustments": s.adjustments,
            "payout": s.payout,
            "currency": s.currency,
        }

    @staticmethod
    def _booked_totals(session: Session, plan_id: str, period: str) -> dict[_LineKey, Decimal]:
        """What earlier runs of this plan booked for `period`, per rep/component/transaction."""
        rows = session.execute(
            select(Line.rep_id, Line.component, Line.transaction_id, Line.currency, Line.amount)
            .where(Line.plan_id == plan_id, Line.earned_period == period)
            .where(Line.kind.in_([LineKind.COMMISSION, LineKind.DELTA]))
        )
        totals: dict[_LineKey, Decimal] = defaultdict(Decimal)
        for rep_id, component, transaction_id, currency, amount in rows:
            totals[(rep_id, component, transaction_id, currency)] += amount
        return dict(totals)

    def _delta_values(self, run: RunInput, prior: dict[_LineKey, Decimal]) -> list[dict[str, Any]]:
        """New result minus what is already booked, one delta line per changed key."""
        new_totals: dict[_LineKey, Decimal] = defaultdict(Decimal)
        representative: dict[_LineKey, LineRecord] = {}
        for record in run.lines:
            key = (record.rep_id, record.component, record.transaction_id or "", record.currency)
            new_totals[key] += record.amount
            representative.setdefault(key, record)
        out: list[dict[str, Any]] = []
        for key in sorted(set(prior) | set(new_totals)):
            old, new = prior.get(key, Decimal(0)), new_totals.get(key, Decimal(0))
            if old == new:
                continue
            rep_id, component, transaction_id, currency = key
            source = representative.get(key)
            on = f" on {transaction_id}" if transaction_id else ""
            explanation = (
                f"Recalculation of {run.period} (plan {run.plan_id} {run.plan_version}): "
                f"{component}{on} was {_money_text(old, currency)}, now "
                f"{_money_text(new, currency)}; this line books the difference."
            )
            if source is not None and source.explanation:
                explanation += f" Now: {source.explanation}"
            record = LineRecord(
                rep_id=rep_id,
                period=run.period,
                component=component,
                amount=new - old,
                currency=currency,
                transaction_id=transaction_id,
                credited_amount=source.credited_amount if source else None,
                rate=source.rate if source else None,
            )
            out.append(self._line_values(record, LineKind.DELTA, explanation))
        return out

    def _register_plan_version(
        self, session: Session, run: RunInput, actor: str, now: datetime
    ) -> None:
        known = session.scalar(
            select(PlanVersion.id).where(
                PlanVersion.plan_id == run.plan_id, PlanVersion.plan_hash == run.plan_hash
            )
        )
        if known is not None:
            return
        session.add(
            PlanVersion(
                plan_id=run.plan_id,
                plan_version=run.plan_version,
                plan_hash=run.plan_hash,
                registered_by=actor,
                registered_at=now,
            )
        )
        self._audit(
            session,
            actor,
            "plan_version.registered",
            "plan",
            run.plan_id,
            None,
            {"plan_version": run.plan_version, "plan_hash": run.plan_hash},
        )

    @staticmethod
    def _run_view(row: Run) -> RunView:
        return RunView(
            id=row.id,
            run_key=row.run_key,
            kind=row.kind,
            plan_id=row.plan_id,
            plan_version=row.plan_version,
            plan_hash=row.plan_hash,
            period=row.period,
            booked_period=row.booked_period,
            input_hashes=json.loads(row.input_hashes),
            engine_version=row.engine_version,
            line_count=row.line_count,
            posted_by=row.posted_by,
            posted_at=_aware(row.posted_at),
        )

    def runs(self, *, period: str | None = None, plan_id: str | None = None) -> list[RunView]:
        query = select(Run).order_by(Run.posted_at, Run.id)
        if period:
            query = query.where(Run.period == period)
        if plan_id:
            query = query.where(Run.plan_id == plan_id)
        with Session(self._engine) as session:
            return [self._run_view(r) for r in session.scalars(query)]

    def run(self, run_id: str) -> RunView:
        with Session(self._engine) as session:
            row = session.get(Run, run_id)
            if row is None:
                raise LedgerNotFoundError(f"run {run_id!r} is not in the ledger")
            return self._run_view(row)

    def run_statements(self, rep_id: str, period: str) -> list[StatementRecord]:
        """Engine statement rows for a rep and period, oldest run first.

        Runs whose lines were booked in the period itself come last, so `[-1]` is
        what the period's booked lines were calculated with (a later
        recalculation of a closed period is booked, and reported, elsewhere).
        """
        booked_here = case((Run.booked_period == period, 1), else_=0)
        query = (
            select(RunStatement)
            .join(Run, Run.id == RunStatement.run_id)
            .where(RunStatement.rep_id == rep_id, RunStatement.period == period)
            .order_by(booked_here, Run.posted_at, RunStatement.id)
        )
        with Session(self._engine) as session:
            return [
                StatementRecord(
                    rep_id=r.rep_id,
                    period=r.period,
                    credited=r.credited.normalize(),
                    gross=r.gross.quantize(get_currency(r.currency).quantum),
                    adjustments=r.adjustments.quantize(get_currency(r.currency).quantum),
                    payout=r.payout.quantize(get_currency(r.currency).quantum),
                    currency=r.currency,
                    quota=None if r.quota is None else r.quota.normalize(),
                    attainment=None if r.attainment is None else r.attainment.normalize(),
                )
                for r in session.scalars(query)
            ]

    # -- lines -------------------------------------------------------------
    def _views(self, session: Session, rows: Sequence[Line]) -> list[LineView]:
        approvals: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks([r.id for r in rows]):
            for line_id, level, approver in session.execute(
                select(Approval.line_id, Approval.level, Approval.approver)
                .where(Approval.line_id.in_(chunk))
                .order_by(Approval.id)
            ):
                approvals[line_id].append(f"{level}:{approver}")
        return [self._view(r, tuple(approvals[r.id])) for r in rows]

    @staticmethod
    def _view(row: Line, approvals: tuple[str, ...]) -> LineView:
        quantum = get_currency(row.currency).quantum
        return LineView(
            id=row.id,
            run_id=row.run_id,
            kind=row.kind,
            rep_id=row.rep_id,
            period=row.period,
            earned_period=row.earned_period,
            plan_id=row.plan_id,
            component=row.component,
            transaction_id=row.transaction_id,
            credited_amount=None
            if row.credited_amount is None
            else row.credited_amount.normalize(),
            rate=None if row.rate is None else row.rate.normalize(),
            amount=row.amount.quantize(quantum),
            currency=row.currency,
            explanation=row.explanation,
            status=row.status,
            approvals=approvals,
            corrects_line_id=row.corrects_line_id,
            payment_id=row.payment_id,
            version=row.version,
            created_by=row.created_by,
            created_at=_aware(row.created_at),
        )

    def lines(
        self,
        *,
        rep_id: str | None = None,
        period: str | None = None,
        status: str | None = None,
        run_id: str | None = None,
        kind: str | None = None,
    ) -> list[LineView]:
        query = select(Line).order_by(Line.id)
        if rep_id:
            query = query.where(Line.rep_id == rep_id)
        if period:
            query = query.where(Line.period == period)
        if status:
            query = query.where(Line.status == LineStatus(status))
        if run_id:
            query = query.where(Line.run_id == run_id)
        if kind:
            query = query.where(Line.kind == LineKind(kind))
        with Session(self._engine) as session:
            return self._views(session, list(session.scalars(query)))

    def line(self, line_id: int) -> LineView:
        with Session(self._engine) as session:
            row = session.get(Line, line_id)
            if row is None:
                raise LedgerNotFoundError(f"line {line_id} is not in the ledger")
            return self._views(session, [row])[0]

    @staticmethod
    def _lock_line(session: Session, line_id: int) -> Line:
        row = session.scalar(select(Line).where(Line.id == line_id).with_for_update())
        if row is None:
            raise LedgerNotFoundError(f"line {line_id} is not in the ledger")
        return row

    @staticmethod
    def _move(
        session: Session, lines: Sequence[Line], expected: str, values: dict[str, Any]
    ) -> None:
        """Conditional UPDATE (optimistic check on status and version) that must hit every line."""
        by_version: dict[int, list[int]] = defaultdict(list)
        for line in lines:
            by_version[line.version].append(line.id)
        for version, ids in by_version.items():
            for chunk in _chunks(ids):
                result = session.execute(
                    update(Line)
                    .where(Line.id.in_(chunk), Line.status == expected, Line.version == version)
                    .values(version=Line.version + 1, **values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != len(chunk):  # type: ignore[attr-defined]
                    raise LedgerConflictError(
                        f"line(s) {list(chunk)} changed concurrently; nothing was written, retry"
                    )
        # Mirror the committed-to-be values in memory without marking the objects
        # dirty (a flush must never issue a second UPDATE, e.g. on a paid line).
        for line in lines:
            set_committed_value(line, "version", line.version + 1)
            for key, value in values.items():
                set_committed_value(line, key, value)

    # -- approvals -----------------------------------------------------------
    def approve(self, line_id: int, actor: str, level: str) -> LineView:
        """Approve one line at `level` (levels are approved in the configured order)."""
        check_id(actor, "actor")
        with self._transaction() as session:
            line = self._lock_line(session, line_id)
            self._approve(session, [line], actor, level, strict=True)
            return self._views(session, [line])[0]

    def approve_run(self, run_id: str, actor: str, level: str) -> RunApproval:
        """Approve at `level` every pending line of a run that is waiting for that level."""
        check_id(actor, "actor")
        with self._transaction() as session:
            if session.get(Run, run_id) is None:
                raise LedgerNotFoundError(f"run {run_id!r} is not in the ledger")
            lines = list(
                session.scalars(
                    select(Line)
                    .where(Line.run_id == run_id, Line.status == LineStatus.PENDING)
                    .order_by(Line.id)
                    .with_for_update()
                )
            )
            approved = self._approve(session, lines, actor, level, strict=False)
            if not approved:
                raise LedgerConflictError(
                    f"run {run_id}: no pending line is waiting for {level} approval"
                )
            self._audit(
                session,
                actor,
                "run.approved",
                "run",
                run_id,
                None,
                {"level": level, "line_ids": [line.id for line in approved]},
            )
            return RunApproval(
                run_id=run_id,
                level=level,
                approver=actor,
                line_ids=tuple(line.id for line in approved),
                fully_approved=sum(1 for line in approved if line.status == LineStatus.APPROVED),
            )

    def _approve(
        self, session: Session, lines: Sequence[Line], actor: str, level: str, *, strict: bool
    ) -> list[Line]:
        levels = self._levels(session)
        if level not in levels:
            raise LedgerError(f"unknown approval level {level!r}: configured levels are {levels}")
        done: dict[int, dict[str, str]] = defaultdict(dict)
        for chunk in _chunks([line.id for line in lines]):
            for line_id, lvl, approver in session.execute(
                select(Approval.line_id, Approval.level, Approval.approver).where(
                    Approval.line_id.in_(chunk)
                )
            ):
                done[line_id][lvl] = approver
        eligible: list[Line] = []
        for line in lines:
            problem = self._approval_problem(line, done[line.id], levels, level, actor)
            if problem is None:
                eligible.append(line)
            elif strict:
                raise problem
        if not eligible:
            return []
        now = self._clock()
        try:
            with session.begin_nested():
                session.execute(
                    insert(_APPROVALS),
                    [
                        {"line_id": line.id, "level": level, "approver": actor, "approved_at": now}
                        for line in eligible
                    ],
                )
        except IntegrityError:
            raise LedgerConflictError(
                f"line(s) {[line.id for line in eligible]} were approved at {level} "
                "concurrently by someone else"
            ) from None
        final = level == levels[-1]
        before = _line_state(eligible[0]) if strict else {}
        self._move(
            session,
            eligible,
            LineStatus.PENDING,
            {"status": LineStatus.APPROVED} if final else {},
        )
        if strict:
            line = eligible[0]
            self._audit(
                session,
                actor,
                "line.approved",
                "line",
                line.id,
                before,
                {**_line_state(line), "level": level},
            )
        return eligible

    @staticmethod
    def _approval_problem(
        line: Line, done: dict[str, str], levels: tuple[str, ...], level: str, actor: str
    ) -> LedgerError | None:
        if line.status != LineStatus.PENDING:
            hints = {
                LineStatus.PAID: "paid lines are immutable; corrections are adjustments",
                LineStatus.DISPUTED: "resolve the dispute first",
                LineStatus.APPROVED: "it is already fully approved",
            }
            return IllegalTransitionError(
                line.id, line.status, f"approve at {level}", hints.get(LineStatus(line.status), "")
            )
        if level in done:
            return LedgerConflictError(
                f"line {line.id} is already approved at {level} by {done[level]}"
            )
        missing = next(lvl for lvl in levels if lvl not in done)
        if missing != level:
            return LedgerConflictError(f"line {line.id} needs {missing} approval before {level}")
        if actor in done.values():
            return LedgerConflictError(
                f"line {line.id}: {actor} already approved it at another level; "
                "each level needs a different approver"
            )
        return None

    # -- disputes ------------------------------------------------------------
    def dispute(self, line_id: int, actor: str, reason: str) -> DisputeView:
        """Put a pending or approved line on hold with a reason."""
        check_id(actor, "actor")
        if not reason.strip():
            raise LedgerError("a dispute needs a reason")
        with self._transaction() as session:
            line = self._lock_line(session, line_id)
            if line.status not in (LineStatus.PENDING, LineStatus.APPROVED):
                hint = (
                    "paid lines are immutable; ask for an adjustment"
                    if line.status == LineStatus.PAID
                    else "it already has an open dispute"
                )
                raise IllegalTransitionError(line.id, line.status, "dispute", hint)
            before = _line_state(line)
            self._move(
                session,
                [line],
                line.status,
                {"status": LineStatus.DISPUTED, "status_before_dispute": line.status},
            )
            row = Dispute(
                line_id=line.id,
                status="open",
                reason=reason,
                raised_by=actor,
                raised_at=self._clock(),
            )
            session.add(row)
            session.flush()
            self._audit(session, actor, "line.disputed", "line", line.id, before, _line_state(line))
            self._audit(
                session, actor, "dispute.opened", "dispute", row.id, None,
                {"line_id": line.id, "reason": reason},
            )  # fmt: skip
            return self._dispute_view(session, row)

    def comment(self, dispute_id: int, actor: str, body: str) -> DisputeView:
        check_id(actor, "actor")
        if not body.strip():
            raise LedgerError("an empty comment says nothing")
        with self._transaction() as session:
            row = self._lock_dispute(session, dispute_id)
            if row.status != "open":
                raise LedgerConflictError(f"dispute {dispute_id} is resolved: comments are closed")
            session.add(
                DisputeComment(dispute_id=row.id, author=actor, body=body, created_at=self._clock())
            )
            session.flush()
            self._audit(
                session, actor, "dispute.commented", "dispute", row.id, None, {"comment": body}
            )
            return self._dispute_view(session, row)

    def resolve(
        self,
        dispute_id: int,
        actor: str,
        *,
        outcome: str,
        resolution: str,
        adjustment: Decimal | None = None,
        book_into: str | None = None,
    ) -> DisputeView:
        """Close a dispute: the line returns to where it was; an upheld dispute may
        carry a correcting adjustment (credit or debit note) linked to the line."""
        check_id(actor, "actor")
        if outcome not in ("upheld", "rejected"):
            raise LedgerError(f"dispute outcome {outcome!r}: use 'upheld' or 'rejected'")
        if adjustment is not None and outcome != "upheld":
            raise LedgerError("only an upheld dispute can carry an adjustment")
        if not resolution.strip():
            raise LedgerError("a resolution needs a text saying what was decided")
        with self._transaction() as session:
            row = self._lock_dispute(session, dispute_id)
            if row.status != "open":
                raise LedgerConflictError(f"dispute {dispute_id} is already resolved")
            line = self._lock_line(session, row.line_id)
            if line.status != LineStatus.DISPUTED:
                raise IllegalTransitionError(line.id, line.status, "resolve a dispute")
            before = _line_state(line)
            restored = line.status_before_dispute or LineStatus.PENDING
            self._move(
                session,
                [line],
                LineStatus.DISPUTED,
                {"status": restored, "status_before_dispute": None},
            )
            adjustment_id = None
            if adjustment is not None:
                target = (
                    line.period
                    if self._is_open(session, line.period)
                    else self._open_target(session, line.period, book_into)
                )
                adjustment_id = self._add_adjustment(
                    session,
                    rep_id=line.rep_id,
                    period=target,
                    amount=adjustment,
                    currency=line.currency,
                    reason=f"dispute {dispute_id} upheld: {resolution}",
                    actor=actor,
                    corrects_line_id=line.id,
                )
            row.status, row.outcome, row.resolution = "resolved", outcome, resolution
            row.resolved_by, row.resolved_at = actor, self._clock()
            row.adjustment_line_id = adjustment_id
            session.flush()
            self._audit(
                session, actor, "line.dispute_resolved", "line", line.id, before, _line_state(line)
            )
            self._audit(
                session, actor, "dispute.resolved", "dispute", row.id, {"status": "open"},
                {"status": "resolved", "outcome": outcome, "resolution": resolution,
                 "adjustment_line_id": adjustment_id},
            )  # fmt: skip
            return self._dispute_view(session, row)

    @staticmethod
    def _lock_dispute(session: Session, dispute_id: int) -> Dispute:
        row = session.scalar(select(Dispute).where(Dispute.id == dispute_id).with_for_update())
        if row is None:
            raise LedgerNotFoundError(f"dispute {dispute_id} is not in the ledger")
        return row

    @staticmethod
    def _dispute_view(session: Session, row: Dispute) -> DisputeView:
        comments = tuple(
            f"{c.author}: {c.body}"
            for c in session.scalars(
                select(DisputeComment)
                .where(DisputeComment.dispute_id == row.id)
                .order_by(DisputeComment.id)
            )
        )
        return DisputeView(
            id=row.id,
            line_id=row.line_id,
            status=row.status,
            reason=row.reason,
            raised_by=row.raised_by,
            raised_at=_aware(row.raised_at),
            outcome=row.outcome,
            resolution=row.resolution,
            resolved_by=row.resolved_by,
            resolved_at=_aware(row.resolved_at) if row.resolved_at else None,
            adjustment_line_id=row.adjustment_line_id,
            comments=comments,
        )

    def disputes(self, *, status: str | None = None) -> list[DisputeView]:
        query = select(Dispute).order_by(Dispute.id)
        if status:
            query = query.where(Dispute.status == status)
        with Session(self._engine) as session:
            return [self._dispute_view(session, r) for r in session.scalars(query)]

    # -- adjustments ---------------------------------------------------------
    def adjust(
        self,
        *,
        rep_id: str,
        period: str,
        amount: Decimal,
        currency: str,
        reason: str,
        actor: str,
        corrects_line_id: int | None = None,
    ) -> LineView:
        """A credit (amount > 0) or debit (amount < 0) note for a rep, booked in an open period."""
        check_id(actor, "actor")
        with self._transaction() as session:
            line_id = self._add_adjustment(
                session,
                rep_id=rep_id,
                period=period,
                amount=amount,
                currency=currency,
                reason=reason,
                actor=actor,
                corrects_line_id=corrects_line_id,
            )
            row = session.get(Line, line_id)
            assert row is not None
            return self._views(session, [row])[0]

    def _add_adjustment(
        self,
        session: Session,
        *,
        rep_id: str,
        period: str,
        amount: Decimal,
        currency: str,
        reason: str,
        actor: str,
        corrects_line_id: int | None,
    ) -> int:
        check_id(rep_id, "rep")
        self._check_period(period)
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise LedgerError(f"adjustment amount {amount!r}: need a non-zero exact decimal")
        check_rounded(amount, currency, f"adjustment for rep {rep_id!r}")
        if not reason.strip():
            raise LedgerError("an adjustment needs a reason")
        if not self._is_open(session, period):
            raise LedgerConflictError(
                f"period {period} is closed: book the adjustment into an open period"
            )
        if corrects_line_id is not None:
            target = session.get(Line, corrects_line_id)
            if target is None:
                raise LedgerNotFoundError(f"line {corrects_line_id} is not in the ledger")
            if (target.rep_id, target.currency) != (rep_id, currency):
                raise LedgerError(
                    f"line {corrects_line_id} belongs to {target.rep_id} in {target.currency}, "
                    f"not {rep_id} in {currency}"
                )
        self._ensure_period(session, period)
        note = "credit_note" if amount > 0 else "debit_note"
        row = Line(
            run_id=None,
            kind=LineKind.ADJUSTMENT,
            rep_id=rep_id,
            period=period,
            earned_period=period,
            plan_id=None,
            component=note,
            transaction_id="",
            credited_amount=None,
            rate=None,
            amount=amount,
            currency=currency,
            explanation=f"{note.replace('_', ' ').capitalize()}: {reason}",
            status=LineStatus.PENDING,
            corrects_line_id=corrects_line_id,
            version=1,
            created_by=actor,
            created_at=self._clock(),
        )
        session.add(row)
        session.flush()
        self._audit(
            session, actor, "adjustment.posted", "line", row.id, None,
            {"rep_id": rep_id, "period": period, "amount": amount, "currency": currency,
             "note": note, "reason": reason, "corrects_line_id": corrects_line_id},
        )  # fmt: skip
        return row.id

    # -- payments ------------------------------------------------------------
    def pay(
        self, period: str, actor: str, *, rep_id: str | None = None, reference: str | None = None
    ) -> list[PaymentView]:
        """Pay every approved line booked in `period` (optionally one rep's), one payment
        per rep and currency. Paid lines can never change again."""
        check_id(actor, "actor")
        self._check_period(period)
        with self._transaction() as session:
            query = (
                select(Line)
                .where(Line.period == period, Line.status == LineStatus.APPROVED)
                .order_by(Line.id)
                .with_for_update()
            )
            if rep_id:
                query = query.where(Line.rep_id == rep_id)
            lines = list(session.scalars(query))
            if not lines:
                who = f" for {rep_id}" if rep_id else ""
                raise LedgerConflictError(f"no approved line to pay in {period}{who}")
            groups: dict[tuple[str, str], list[Line]] = defaultdict(list)
            for line in lines:
                groups[(line.rep_id, line.currency)].append(line)
            now = self._clock()
            payments: list[PaymentView] = []
            for (rep, currency), members in sorted(groups.items()):
                total = sum((line.amount for line in members), Decimal(0))
                payment = Payment(
                    period=period,
                    rep_id=rep,
                    currency=currency,
                    amount=total,
                    line_count=len(members),
                    reference=reference or f"{period}/{rep}/{currency}",
                    paid_by=actor,
                    paid_at=now,
                )
                session.add(payment)
                session.flush()
                self._move(
                    session,
                    members,
                    LineStatus.APPROVED,
                    {"status": LineStatus.PAID, "payment_id": payment.id},
                )
                self._audit(
                    session, actor, "payment.made", "payment", payment.id,
                    {"line_ids": [m.id for m in members], "status": LineStatus.APPROVED},
                    {"line_ids": [m.id for m in members], "status": LineStatus.PAID,
                     "rep_id": rep, "amount": total, "currency": currency,
                     "reference": payment.reference},
                )  # fmt: skip
                payments.append(self._payment_view(payment))
            return payments

    @staticmethod
    def _payment_view(row: Payment) -> PaymentView:
        return PaymentView(
            id=row.id,
            period=row.period,
            rep_id=row.rep_id,
            currency=row.currency,
            amount=row.amount.quantize(get_currency(row.currency).quantum),
            line_count=row.line_count,
            reference=row.reference,
            paid_by=row.paid_by,
            paid_at=_aware(row.paid_at),
        )

    def payments(self, *, period: str | None = None) -> list[PaymentView]:
        query = select(Payment).order_by(Payment.id)
        if period:
            query = query.where(Payment.period == period)
        with Session(self._engine) as session:
            return [self._payment_view(r) for r in session.scalars(query)]

    def rep_lines(self, rep_id: str, periods: Iterable[str]) -> list[LineView]:
        """Every line of a rep booked in any of `periods` (for statements and year to date)."""
        wanted = sorted(set(periods))
        with Session(self._engine) as session:
            rows = list(
                session.scalars(
                    select(Line)
                    .where(Line.rep_id == rep_id, Line.period.in_(wanted))
                    .order_by(Line.id)
                )
            )
            return self._views(session, rows)
