"""Behavioural tests of the payout ledger, run against every backend.

`test_ledger_sqlite.py` and `test_ledger_postgres.py` import these tests and
provide the `target` fixture (where the ledger lives).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _ledger_support import LedgerTarget, big_run, make_run, table_counts
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from spm_domain.ledger import (
    IllegalTransitionError,
    InvalidRunError,
    Ledger,
    LedgerConflictError,
    LedgerError,
    LedgerNotFoundError,
    LineRecord,
    PostResult,
)
from spm_domain.ledger.models import Base
from spm_domain.ledger.statements import (
    build_statement,
    render_statement_html,
    statement_lines_csv,
    write_statement,
)

KILL_WORKER = Path(__file__).with_name("_ledger_kill_worker.py")


@pytest.fixture
def ledger(target: LedgerTarget) -> Iterator[Ledger]:
    opened = target.open()
    yield opened
    opened.close()


def _approve_all(ledger: Ledger, line_id: int) -> None:
    ledger.approve(line_id, "mia_manager", "manager")
    ledger.approve(line_id, "fred_finance", "finance")


# -- schema ---------------------------------------------------------------------
def test_migrations_match_the_models(ledger: Ledger) -> None:
    with ledger.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": "ledger_alembic_version", "compare_type": False}
        )
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []


def test_migrations_downgrade_to_base_and_upgrade_again(ledger: Ledger) -> None:
    from alembic import command

    from spm_domain.ledger.db import WRITE_OPTION, alembic_config, current_revision, head_revision

    engine = ledger.engine.execution_options(**{WRITE_OPTION: True})
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert current_revision(ledger.engine) is None
    assert "ledger_lines" not in sa.inspect(ledger.engine).get_table_names()
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert current_revision(ledger.engine) == head_revision()
    ledger.post_run(make_run(), "alice")


def test_reopening_a_migrated_ledger_is_a_no_op(target: LedgerTarget, ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    with target.open() as again:
        assert len(again.lines()) == 3


# -- runs and idempotency ---------------------------------------------------------
def test_posting_the_same_run_twice_creates_nothing_new(ledger: Ledger) -> None:
    first = ledger.post_run(make_run(), "alice")
    counts = table_counts(ledger)
    second = ledger.post_run(make_run(), "bob")
    assert first.created and not second.created
    assert second.run.id == first.run.id and second.run.posted_by == "alice"
    assert table_counts(ledger) == counts
    assert [line.amount for line in ledger.lines()] == [
        Decimal("100.00"),
        Decimal("250.50"),
        Decimal("80.00"),
    ]


def test_run_key_is_plan_hash_period_and_input_hashes() -> None:
    base = make_run()
    assert make_run().run_key == base.run_key
    assert make_run(inputs="tx-v2").run_key != base.run_key
    assert make_run(plan_hash="other").run_key != base.run_key
    assert make_run("2025-Q2").run_key != base.run_key


def test_amounts_are_exact_decimals_with_currency(ledger: Ledger) -> None:
    ledger.post_run(make_run(amounts={("r", "T"): "0.10"}, currency="BHD"), "alice")
    ledger.post_run(
        make_run(amounts={("r", "T2"): "0.20"}, currency="BHD", plan_id="p2", plan_hash="h2"),
        "alice",
    )
    lines = ledger.lines(rep_id="r")
    assert all(isinstance(line.amount, Decimal) for line in lines)
    assert sum((line.amount for line in lines), Decimal(0)) == Decimal("0.300")
    assert {line.currency for line in lines} == {"BHD"}


def test_invalid_run_is_refused_before_anything_is_written(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    counts = table_counts(ledger)
    good = make_run(inputs="v2")
    bad_line = LineRecord("rep_9", "2025-Q1", "base", Decimal("1.005"), "USD", "T9")
    bad = dataclasses.replace(good, lines=(*good.lines, bad_line))
    with pytest.raises(
        InvalidRunError, match=r"run line 4 \(rep 'rep_9', transaction 'T9'\), column amount"
    ):
        ledger.post_run(bad, "alice")
    assert table_counts(ledger) == counts


def test_a_run_failing_midway_leaves_the_ledger_as_it_was(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    counts = table_counts(ledger)

    def crash(done: int, _total: int) -> None:
        if done >= 200:
            raise RuntimeError("simulated crash half-way through the run")

    with pytest.raises(RuntimeError, match="simulated crash"):
        ledger.post_run(big_run(1000), "alice", progress=crash, batch_size=100)
    assert table_counts(ledger) == counts
    assert ledger.post_run(big_run(1000), "alice").created


def test_kill_9_midway_leaves_the_ledger_as_it_was(target: LedgerTarget, ledger: Ledger) -> None:
    """A real SIGKILL of a process that is half-way through posting a large run."""
    ledger.post_run(make_run(), "alice")
    before = table_counts(ledger)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen(
        [sys.executable, str(KILL_WORKER), target.url, target.schema or "", "10000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert worker.stdout is not None
        batches = 0
        deadline = time.monotonic() + 120
        for line in worker.stdout:  # the worker reports each batch written (uncommitted)
            if line.startswith("BATCH"):
                batches += 1
                if batches == 3:
                    break
            assert time.monotonic() < deadline, "worker too slow"
        assert batches == 3, f"worker ended early: {worker.stderr.read() if worker.stderr else ''}"
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    deadline = time.monotonic() + 30
    while True:  # PostgreSQL notices the dead connection and rolls back
        try:
            after = table_counts(ledger)
            break
        except sa.exc.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert after == before
    assert [run.id for run in ledger.runs()] == [make_run().run_id]
    result = ledger.post_run(big_run(2000, inputs="after-kill"), "alice")
    assert result.created and result.run.line_count == 2000


# -- approvals --------------------------------------------------------------------
def test_multi_level_approval_in_configured_order(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines()[0]
    with pytest.raises(LedgerConflictError, match="needs manager approval before finance"):
        ledger.approve(line.id, "fred_finance", "finance")
    assert ledger.approve(line.id, "mia_manager", "manager").status == "pending"
    with pytest.raises(LedgerConflictError, match="already approved at manager by mia_manager"):
        ledger.approve(line.id, "other_manager", "manager")
    with pytest.raises(LedgerConflictError, match="each level needs a different approver"):
        ledger.approve(line.id, "mia_manager", "finance")
    approved = ledger.approve(line.id, "fred_finance", "finance")
    assert approved.status == "approved"
    assert approved.approvals == ("manager:mia_manager", "finance:fred_finance")
    with pytest.raises(LedgerError, match="unknown approval level 'ceo'"):
        ledger.approve(ledger.lines()[1].id, "x", "ceo")


def test_approval_levels_are_configurable_and_audited(ledger: Ledger) -> None:
    assert ledger.approval_levels() == ("manager", "finance")
    ledger.set_approval_levels(["manager", "finance", "cfo"], "admin")
    ledger.post_run(make_run(), "alice")
    line = ledger.lines()[0]
    _approve_all(ledger, line.id)
    assert ledger.line(line.id).status == "pending"
    assert ledger.approve(line.id, "carla_cfo", "cfo").status == "approved"
    ledger.approve(ledger.lines()[1].id, "mia_manager", "manager")
    with pytest.raises(LedgerConflictError, match="part-way through approval"):
        ledger.set_approval_levels(["finance"], "admin")
    entry = ledger.audit(action="settings.approval_levels")[0]
    assert entry.actor == "admin" and entry.after == {"levels": ["manager", "finance", "cfo"]}


def test_approving_a_whole_run(ledger: Ledger) -> None:
    run = ledger.post_run(make_run(), "alice").run
    first = ledger.approve_run(run.id, "mia_manager", "manager")
    assert len(first.line_ids) == 3 and first.fully_approved == 0
    second = ledger.approve_run(run.id, "fred_finance", "finance")
    assert second.line_ids == first.line_ids and second.fully_approved == 3
    assert {line.status for line in ledger.lines(run_id=run.id)} == {"approved"}
    assert ledger.audit(action="run.approved")[-1].after == {
        "level": "finance",
        "line_ids": list(first.line_ids),
    }
    with pytest.raises(LedgerConflictError, match="no pending line is waiting for manager"):
        ledger.approve_run(run.id, "mia_manager", "manager")
    with pytest.raises(LedgerNotFoundError):
        ledger.approve_run("run_missing", "mia_manager", "manager")


# -- state machine ----------------------------------------------------------------
def test_illegal_transitions_are_refused_with_a_clear_error(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines(rep_id="rep_2")[0]
    with pytest.raises(LedgerConflictError, match="no approved line to pay in 2025-Q1 for rep_2"):
        ledger.pay("2025-Q1", "paula", rep_id="rep_2")
    _approve_all(ledger, line.id)
    ledger.pay("2025-Q1", "paula", rep_id="rep_2")
    with pytest.raises(IllegalTransitionError, match=f"line {line.id} is paid: cannot approve"):
        ledger.approve(line.id, "mia_manager", "manager")
    with pytest.raises(IllegalTransitionError, match="paid lines are immutable"):
        ledger.dispute(line.id, "rep_2", "too low")
    with pytest.raises(LedgerConflictError, match="no approved line"):
        ledger.pay("2025-Q1", "paula", rep_id="rep_2")
    with pytest.raises(LedgerNotFoundError, match="line 999999"):
        ledger.approve(999999, "mia_manager", "manager")


def test_paid_lines_are_immutable_even_for_raw_sql(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines()[0]
    _approve_all(ledger, line.id)
    ledger.pay("2025-Q1", "paula")
    for statement in (
        f"UPDATE ledger_lines SET amount = 1 WHERE id = {line.id}",
        f"UPDATE ledger_lines SET status = 'pending' WHERE id = {line.id}",
        f"DELETE FROM ledger_lines WHERE id = {line.id}",
    ):
        with (
            pytest.raises(sa.exc.DatabaseError, match=r"immutable|never deleted"),
            ledger.engine.begin() as connection,
        ):
            connection.execute(sa.text(statement))
    assert ledger.line(line.id).status == "paid"
    assert ledger.line(line.id).amount == line.amount


def test_audit_log_is_append_only(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    count = len(ledger.audit())
    assert count >= 2
    assert not any(hasattr(ledger, name) for name in ("update_audit", "delete_audit"))
    for statement in ("UPDATE ledger_audit SET actor = 'mallory'", "DELETE FROM ledger_audit"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            ledger.engine.begin() as connection,
        ):
            connection.execute(sa.text(statement))
    assert len(ledger.audit()) == count
    assert {entry.actor for entry in ledger.audit()} == {"alice"}


def test_audit_records_who_when_what_before_and_after(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines()[0]
    _approve_all(ledger, line.id)
    entries = ledger.audit(entity_type="line", entity_id=str(line.id))
    assert [e.action for e in entries] == ["line.approved", "line.approved"]
    assert entries[1].actor == "fred_finance"
    assert entries[1].before is not None and entries[1].before["status"] == "pending"
    assert entries[1].after is not None and entries[1].after["status"] == "approved"
    assert entries[0].at <= entries[1].at
    actions = {e.action for e in ledger.audit()}
    assert {"plan_version.registered", "run.posted", "line.approved"} <= actions


# -- disputes and adjustments ---------------------------------------------------------
def test_dispute_with_comments_and_upheld_resolution(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines(rep_id="rep_2")[0]
    _approve_all(ledger, line.id)
    dispute = ledger.dispute(line.id, "rep_2", "deal T3 was 900, not 800")
    assert ledger.line(line.id).status == "disputed"
    with pytest.raises(LedgerConflictError, match="no approved line"):
        ledger.pay("2025-Q1", "paula", rep_id="rep_2")
    with pytest.raises(IllegalTransitionError, match="already has an open dispute"):
        ledger.dispute(line.id, "rep_2", "again")
    ledger.comment(dispute.id, "mia_manager", "checked the CRM: rep is right")
    resolved = ledger.resolve(
        dispute.id,
        "fred_finance",
        outcome="upheld",
        resolution="credit 10.00",
        adjustment=Decimal("10.00"),
    )
    assert resolved.status == "resolved" and resolved.comments == (
        "mia_manager: checked the CRM: rep is right",
    )
    assert ledger.line(line.id).status == "approved"  # back where it was
    note = ledger.line(resolved.adjustment_line_id or -1)
    assert (note.kind, note.component, note.amount, note.corrects_line_id) == (
        "adjustment", "credit_note", Decimal("10.00"), line.id,
    )  # fmt: skip
    with pytest.raises(LedgerConflictError, match="already resolved"):
        ledger.resolve(dispute.id, "fred_finance", outcome="rejected", resolution="no")


def test_rejected_dispute_returns_line_to_pending(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    line = ledger.lines()[0]
    dispute = ledger.dispute(line.id, "rep_1", "should be more")
    with pytest.raises(LedgerError, match="only an upheld dispute"):
        ledger.resolve(
            dispute.id, "fred", outcome="rejected", resolution="no", adjustment=Decimal(1)
        )
    ledger.resolve(dispute.id, "fred", outcome="rejected", resolution="plan applied correctly")
    assert ledger.line(line.id).status == "pending"
    assert ledger.disputes(status="resolved")[0].outcome == "rejected"


def test_adjustments_are_credit_and_debit_notes_in_open_periods(ledger: Ledger) -> None:
    credit = ledger.adjust(
        rep_id="rep_1",
        period="2025-Q1",
        amount=Decimal("50.00"),
        currency="USD",
        reason="spiff",
        actor="fred",
    )
    debit = ledger.adjust(
        rep_id="rep_1",
        period="2025-Q1",
        amount=Decimal("-20.00"),
        currency="USD",
        reason="overpaid",
        actor="fred",
    )
    assert (credit.component, debit.component) == ("credit_note", "debit_note")
    assert credit.status == "pending"
    with pytest.raises(InvalidRunError, match="more decimals than USD"):
        ledger.adjust(
            rep_id="rep_1",
            period="2025-Q1",
            amount=Decimal("0.001"),
            currency="USD",
            reason="x",
            actor="f",
        )
    ledger.close_period("2025-Q1", "fred")
    with pytest.raises(LedgerConflictError, match="period 2025-Q1 is closed"):
        ledger.adjust(
            rep_id="rep_1",
            period="2025-Q1",
            amount=Decimal("1.00"),
            currency="USD",
            reason="x",
            actor="f",
        )
    with pytest.raises(LedgerConflictError, match="already closed"):
        ledger.close_period("2025-Q1", "fred")


# -- retroactive recalculation ---------------------------------------------------------
def _snapshot(ledger: Ledger, period: str) -> list[tuple[Any, ...]]:
    return [(x.id, x.amount, x.status, x.version) for x in ledger.lines(period=period)]


def test_recalculating_a_closed_period_books_deltas_in_the_next_open_one(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    _approve_all(ledger, ledger.lines()[0].id)
    ledger.pay("2025-Q1", "paula")
    ledger.close_period("2025-Q1", "fred")
    closed_before = _snapshot(ledger, "2025-Q1")
    late = {
        ("rep_1", "T1"): "120.00",
        ("rep_1", "T2"): "250.50",
        ("rep_2", "T3"): "80.00",
        ("rep_2", "T4"): "30.00",
    }
    result = ledger.post_run(make_run(amounts=late, inputs="tx-v2-late-deal"), "alice")
    assert result.run.kind == "recalculation" and result.run.booked_period == "2025-Q2"
    assert _snapshot(ledger, "2025-Q1") == closed_before
    deltas = {(x.rep_id, x.transaction_id): x for x in ledger.lines(period="2025-Q2")}
    assert {k: v.amount for k, v in deltas.items()} == {
        ("rep_1", "T1"): Decimal("20.00"),
        ("rep_2", "T4"): Decimal("30.00"),
    }
    assert all(v.kind == "delta" and v.earned_period == "2025-Q1" for v in deltas.values())
    assert "was 100.00 USD, now 120.00 USD" in deltas[("rep_1", "T1")].explanation
    # Booked total for Q1 now equals the new result.
    booked = sum((x.amount for x in ledger.lines() if x.kind != "adjustment"), Decimal(0))
    assert booked == sum(Decimal(a) for a in late.values())
    # Same recalculation again: nothing new.
    assert not ledger.post_run(make_run(amounts=late, inputs="tx-v2-late-deal"), "alice").created


def test_recalculation_skips_closed_periods_and_honours_book_into(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    ledger.close_period("2025-Q1", "fred")
    ledger.close_period("2025-Q2", "fred")
    fixed = make_run(amounts={("rep_1", "T1"): "90.00"}, plan_hash="plan-hash-2-fix")
    assert ledger.post_run(fixed, "alice").run.booked_period == "2025-Q3"
    other = make_run(amounts={("rep_1", "T1"): "95.00"}, plan_hash="plan-hash-3")
    assert ledger.post_run(other, "alice", book_into="2025-Q4").run.booked_period == "2025-Q4"
    q3 = ledger.lines(period="2025-Q3")
    assert {(x.transaction_id, x.amount) for x in q3} == {
        ("T1", Decimal("-10.00")), ("T2", Decimal("-250.50")), ("T3", Decimal("-80.00")),
    }  # fmt: skip
    assert [(x.transaction_id, x.amount) for x in ledger.lines(period="2025-Q4")] == [
        ("T1", Decimal("5.00"))
    ]
    assert {e.after["plan_hash"] for e in ledger.audit(action="plan_version.registered") if e.after} == {
        "plan-hash-1", "plan-hash-2-fix", "plan-hash-3",
    }  # fmt: skip


def test_recalculating_an_open_period_posts_deltas_in_that_period(ledger: Ledger) -> None:
    ledger.post_run(make_run(), "alice")
    ledger.post_run(make_run(amounts={("rep_1", "T1"): "100.00"}, inputs="v2"), "alice")
    lines = ledger.lines(period="2025-Q1")
    assert len(lines) == 5
    assert sum((x.amount for x in lines), Decimal(0)) == Decimal("100.00")


# -- concurrency -------------------------------------------------------------------------
def _race(workers: list[Callable[[], object]]) -> list[object]:
    """Start the callables at the same instant on separate threads; collect results or errors."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = workers[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_two_approvers_at_once_cannot_double_approve(target: LedgerTarget, ledger: Ledger) -> None:
    ledger.post_run(big_run(20), "alice")
    first, second = target.open(), target.open()  # separate connection pools
    try:
        for line in ledger.lines():
            outcomes = _race(
                [
                    lambda i=line.id: first.approve(i, "mia_manager", "manager"),
                    lambda i=line.id: second.approve(i, "max_manager", "manager"),
                ]
            )
            errors = [o for o in outcomes if isinstance(o, Exception)]
            assert len(errors) == 1, outcomes
            assert isinstance(errors[0], LedgerConflictError), errors[0]
    finally:
        first.close()
        second.close()
    with ledger.engine.connect() as connection:
        per_line = connection.execute(
            sa.text("SELECT line_id, count(*) FROM ledger_approvals GROUP BY line_id")
        ).all()
    assert len(per_line) == 20 and {count for _line, count in per_line} == {1}


def test_posting_the_same_run_at_once_creates_it_once(target: LedgerTarget, ledger: Ledger) -> None:
    posters = [target.open() for _ in range(3)]
    try:
        outcomes = _race([lambda p=p: p.post_run(big_run(300), "alice") for p in posters])
    finally:
        for poster in posters:
            poster.close()
    assert all(isinstance(o, PostResult) for o in outcomes), outcomes
    assert sorted(o.created for o in outcomes if isinstance(o, PostResult)) == [False, False, True]
    assert len(ledger.runs()) == 1 and len(ledger.lines()) == 300


def test_two_payers_at_once_cannot_double_pay(target: LedgerTarget, ledger: Ledger) -> None:
    run = ledger.post_run(big_run(30), "alice").run
    ledger.approve_run(run.id, "mia_manager", "manager")
    ledger.approve_run(run.id, "fred_finance", "finance")
    payers = [target.open() for _ in range(3)]
    try:
        outcomes = _race([lambda p=p: p.pay("2025-Q1", "paula") for p in payers])
    finally:
        for payer in payers:
            payer.close()
    wins = [o for o in outcomes if isinstance(o, list)]
    losses = [o for o in outcomes if isinstance(o, Exception)]
    assert len(wins) == 1 and len(losses) == 2, outcomes
    assert all(isinstance(e, LedgerConflictError) for e in losses), losses
    payments = ledger.payments()
    assert sum(p.line_count for p in payments) == 30
    assert sum((p.amount for p in payments), Decimal(0)) == Decimal("37.50")
    assert {x.status for x in ledger.lines()} == {"paid"}


# -- statements -----------------------------------------------------------------------
def test_statement_total_equals_sum_of_lines(ledger: Ledger, tmp_path: Path) -> None:
    ledger.post_run(make_run(), "alice")
    ledger.post_run(make_run("2025-Q2", {("rep_1", "T7"): "40.00"}), "alice")
    ledger.adjust(rep_id="rep_1", period="2025-Q2", amount=Decimal("-5.25"), currency="USD",
                  reason="<b>manual</b> fix", actor="fred")  # fmt: skip
    ledger.close_period("2025-Q1", "fred")
    ledger.post_run(
        make_run(amounts={("rep_1", "T1"): "110.00", ("rep_1", "T2"): "250.50"}, inputs="v2"),
        "alice",
    )
    statement = build_statement(ledger, "rep_1", "2025-Q2")
    assert statement.payout == sum((x.amount for x in statement.all_lines), Decimal(0))
    assert statement.payout == Decimal("40.00") - Decimal("5.25") + Decimal("10.00")
    assert statement.gross + statement.adjustments_total == statement.payout
    assert statement.ytd_payout == Decimal("350.50") + statement.payout
    assert statement.attainment == Decimal("0.7")
    rows = list(csv.DictReader(io.StringIO(statement_lines_csv(statement))))
    assert sum(Decimal(r["amount"]) for r in rows) == statement.payout
    html = render_statement_html(statement)
    assert "&lt;b&gt;manual&lt;/b&gt; fix" in html and "<b>manual</b>" not in html
    assert "44.75" in html
    files = write_statement(statement, tmp_path)
    assert sorted(p.suffix for p in files.values()) == [".csv", ".csv", ".html"]
    with pytest.raises(LedgerNotFoundError):
        build_statement(ledger, "nobody", "2025-Q2")
