"""`spm ledger ...`: post commission runs, approve, dispute, adjust, pay, close
periods, query the audit log and write rep statements.

The ledger URL comes from `--ledger`, else $SPM_LEDGER_URL, else
sqlite:///./data/ledger.db; migrations run automatically when it is opened.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, fail

if TYPE_CHECKING:
    from spm_domain.ledger import Ledger

app = typer.Typer(
    name="ledger",
    help="Payout ledger: runs, approvals, disputes, adjustments, payments, audit, statements.",
    no_args_is_help=True,
)

LEDGER_OPTION = typer.Option(
    None,
    "--ledger",
    help="Ledger database URL (default: $SPM_LEDGER_URL or sqlite:///./data/ledger.db).",
)
SCHEMA_OPTION = typer.Option(None, "--schema", help="PostgreSQL schema holding the ledger.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for machines.")
ACTOR_OPTION = typer.Option(
    None, "--as", help="Who acts (recorded in the audit log; default $SPM_USER or the OS user)."
)


def _actor(value: str | None) -> str:
    return value or os.environ.get("SPM_USER") or getpass.getuser()


def _error_map() -> dict[type[BaseException], ExitCode]:
    from sqlalchemy.exc import OperationalError

    from spm_domain.errors import DomainError
    from spm_domain.ledger import InvalidRunError, LedgerConflictError, LedgerNotFoundError

    return {
        LedgerNotFoundError: ExitCode.NOT_FOUND,
        LedgerConflictError: ExitCode.CONFLICT,
        InvalidRunError: ExitCode.INVALID_INPUT,
        DomainError: ExitCode.INVALID_INPUT,
        OperationalError: ExitCode.UNAVAILABLE,
    }


@contextmanager
def _ledger(url: str | None, schema: str | None) -> Iterator[Ledger]:
    """Open the ledger and turn its errors into exit codes."""
    from spm_domain.ledger import Ledger

    with cli_errors(_error_map()):
        ledger = Ledger.open(url, schema=schema)
        try:
            yield ledger
        finally:
            ledger.close()


def _decimal(text: str, option: str) -> Decimal:
    from spm_domain.errors import DomainError
    from spm_domain.money import to_decimal

    try:
        return to_decimal(text, field=option)
    except DomainError as exc:
        raise fail(str(exc), ExitCode.INVALID_INPUT) from None


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        numeric = column in {"amount", "lines", "id", "line"}
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    Console().print(table)


def _jsonable(records: Sequence[Any]) -> list[dict[str, Any]]:
    from spm_domain.ledger import to_jsonable

    return [to_jsonable(r) for r in records]


# -- runs ----------------------------------------------------------------------
def _calculate_runs(
    plan: Path,
    transactions: Path,
    quotas: Path | None,
    roster: Path | None,
    fx: Path | None,
    periods: list[str],
) -> list[Any]:
    """Calculate with the commission engine and turn the result into run inputs."""
    from spm_domain.ledger.engine_bridge import calculate_run_inputs

    return calculate_run_inputs(
        plan=plan, transactions=transactions, quotas=quotas, roster=roster, fx=fx, periods=periods
    )


@app.command("post")
def post(
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Directory written by `spm commissions calculate --out`."
    ),
    plan: Path | None = typer.Option(None, "--plan", help="Plan YAML (calculate, then post)."),
    transactions: Path | None = typer.Option(None, "--transactions", help="Transactions table."),
    quotas: Path | None = typer.Option(None, "--quotas", help="Quotas table."),
    roster: Path | None = typer.Option(None, "--roster", help="Roster table."),
    fx: Path | None = typer.Option(None, "--fx", help="FX rates table."),
    period: list[str] = typer.Option(
        [], "--period", help="Period(s) to post (default: every period in the run)."
    ),
    book_into: str | None = typer.Option(
        None, "--book-into", help="Open period for deltas of a closed period (default: next open)."
    ),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Post a commission run (one ledger run per period). Re-posting the same run is a no-op."""
    from rich.progress import Progress, TaskID

    if (run_dir is None) == (plan is None):
        raise fail("give either --run-dir or --plan with --transactions", ExitCode.USAGE)
    with _ledger(ledger_url, schema) as ledger:
        if run_dir is not None:
            from spm_domain.ledger.rundir import load_run_dir

            runs = load_run_dir(run_dir, periods=period or None)
        else:
            if transactions is None:
                raise fail("--plan needs --transactions", ExitCode.USAGE)
            assert plan is not None
            runs = _calculate_runs(plan, transactions, quotas, roster, fx, period)
        results = []
        with Progress(transient=True, disable=as_json) as progress:
            for run in runs:
                task = progress.add_task(f"posting {run.period}", total=max(len(run.lines), 1))

                def advance(done: int, _total: int, task_id: TaskID = task) -> None:
                    progress.update(task_id, completed=done)

                result = ledger.post_run(run, _actor(actor), book_into=book_into, progress=advance)
                progress.update(task, completed=max(len(run.lines), 1))
                results.append(result)
    if as_json:
        emit_json(
            [{"created": r.created, "run": _jsonable([r.run])[0]} for r in results],
        )
        return
    for r in results:
        verb = "posted" if r.created else "already posted (nothing new)"
        typer.echo(
            f"{r.run.id} {r.run.period} -> booked in {r.run.booked_period}: "
            f"{r.run.line_count} {r.run.kind} line(s) {verb}"
        )


@app.command("runs")
def runs(
    period: str | None = typer.Option(None, "--period", help="Only runs for this period."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List posted runs."""
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.runs(period=period)
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        "Runs",
        ["run", "kind", "plan", "period", "booked in", "lines", "posted by", "posted at"],
        [
            (
                r.id,
                r.kind,
                f"{r.plan_id} {r.plan_version}",
                r.period,
                r.booked_period,
                r.line_count,
                r.posted_by,
                r.posted_at.isoformat(timespec="seconds"),
            )
            for r in rows
        ],
    )


@app.command("lines")
def lines(
    rep: str | None = typer.Option(None, "--rep", help="Only this rep."),
    period: str | None = typer.Option(None, "--period", help="Only lines booked in this period."),
    status: str | None = typer.Option(
        None, "--status", help="pending, approved, paid or disputed."
    ),
    run: str | None = typer.Option(None, "--run", help="Only lines of this run."),
    kind: str | None = typer.Option(None, "--kind", help="commission, delta or adjustment."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List ledger lines."""
    from spm_domain.ledger import LineKind, LineStatus

    if status is not None and status not in set(LineStatus):
        raise fail(
            f"unknown status {status!r}: use {[s.value for s in LineStatus]}", ExitCode.USAGE
        )
    if kind is not None and kind not in set(LineKind):
        raise fail(f"unknown kind {kind!r}: use {[k.value for k in LineKind]}", ExitCode.USAGE)
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.lines(rep_id=rep, period=period, status=status, run_id=run, kind=kind)
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        f"Lines ({len(rows)})",
        ["id", "rep", "period", "kind", "component", "deal", "amount", "status", "approvals"],
        [
            (
                r.id,
                r.rep_id,
                r.period,
                r.kind,
                r.component,
                r.transaction_id,
                f"{r.amount} {r.currency}",
                r.status,
                ", ".join(r.approvals),
            )
            for r in rows
        ],
    )


@app.command("approve")
def approve(
    line_id: int | None = typer.Argument(None, help="Line to approve (or use --run)."),
    run: str | None = typer.Option(None, "--run", help="Approve every waiting line of this run."),
    level: str = typer.Option(..., "--level", help="Approval level, e.g. manager or finance."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve a line (or a whole run) at one level of the approval chain."""
    if (line_id is None) == (run is None):
        raise fail("give either LINE_ID or --run RUN", ExitCode.USAGE)
    with _ledger(ledger_url, schema) as ledger:
        if run is not None:
            bulk = ledger.approve_run(run, _actor(actor), level)
        else:
            assert line_id is not None
            line = ledger.approve(line_id, _actor(actor), level)
    if run is not None:
        if as_json:
            emit_json(_jsonable([bulk])[0])
        else:
            typer.echo(
                f"run {run}: {level} approval recorded on {len(bulk.line_ids)} line(s), "
                f"{bulk.fully_approved} now fully approved"
            )
        return
    if as_json:
        emit_json(_jsonable([line])[0])
        return
    typer.echo(f"line {line.id}: {level} approval recorded, now {line.status}")


@app.command("dispute")
def dispute(
    line_id: int = typer.Argument(..., help="Line to dispute."),
    reason: str = typer.Option(..., "--reason", help="Why the line is wrong."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Dispute a pending or approved line (it is held until resolved)."""
    with _ledger(ledger_url, schema) as ledger:
        view = ledger.dispute(line_id, _actor(actor), reason)
    if as_json:
        emit_json(_jsonable([view])[0])
        return
    typer.echo(f"dispute {view.id} opened on line {view.line_id}")


@app.command("comment")
def comment(
    dispute_id: int = typer.Argument(..., help="Dispute to comment on."),
    text: str = typer.Option(..., "--text", help="The comment."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
) -> None:
    """Add a comment to an open dispute."""
    with _ledger(ledger_url, schema) as ledger:
        view = ledger.comment(dispute_id, _actor(actor), text)
    typer.echo(f"dispute {view.id}: {len(view.comments)} comment(s)")


@app.command("resolve")
def resolve(
    dispute_id: int = typer.Argument(..., help="Dispute to resolve."),
    outcome: str = typer.Option(..., "--outcome", help="upheld or rejected."),
    resolution: str = typer.Option(..., "--resolution", help="What was decided."),
    adjust_amount: str | None = typer.Option(
        None, "--adjust", help="Upheld only: correcting amount (+ credit note, - debit note)."
    ),
    book_into: str | None = typer.Option(
        None, "--book-into", help="Open period for the adjustment if the line's period is closed."
    ),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Resolve a dispute; the line returns to its earlier status."""
    amount = None if adjust_amount is None else _decimal(adjust_amount, "--adjust")
    with _ledger(ledger_url, schema) as ledger:
        view = ledger.resolve(
            dispute_id,
            _actor(actor),
            outcome=outcome,
            resolution=resolution,
            adjustment=amount,
            book_into=book_into,
        )
    if as_json:
        emit_json(_jsonable([view])[0])
        return
    extra = f", adjustment line {view.adjustment_line_id}" if view.adjustment_line_id else ""
    typer.echo(f"dispute {view.id} resolved ({view.outcome}){extra}")


@app.command("disputes")
def disputes(
    status: str | None = typer.Option(None, "--status", help="open or resolved."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List disputes with their comments and resolutions."""
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.disputes(status=status)
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        "Disputes",
        ["id", "line", "status", "reason", "raised by", "outcome", "resolution"],
        [(d.id, d.line_id, d.status, d.reason, d.raised_by, d.outcome, d.resolution) for d in rows],
    )


@app.command("adjust")
def adjust(
    rep: str = typer.Option(..., "--rep", help="Rep the note is for."),
    period: str = typer.Option(..., "--period", help="Open period to book it in."),
    amount: str = typer.Option(..., "--amount", help="+ credit note (owed to rep), - debit note."),
    currency: str | None = typer.Option(
        None, "--currency", help="ISO 4217 currency (default: the currency of the rep's lines)."
    ),
    reason: str = typer.Option(..., "--reason", help="Why."),
    corrects: int | None = typer.Option(None, "--corrects", help="Line this note corrects."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Post a credit or debit note (an adjustment line, approved and paid like any line)."""
    value = _decimal(amount, "--amount")
    with _ledger(ledger_url, schema) as ledger:
        if currency is None:
            known = sorted({line.currency for line in ledger.lines(rep_id=rep)})
            if len(known) != 1:
                raise fail(
                    f"rep {rep!r} has lines in {known or 'no currency'}: pass --currency",
                    ExitCode.USAGE,
                )
            currency = known[0]
        line = ledger.adjust(
            rep_id=rep,
            period=period,
            amount=value,
            currency=currency,
            reason=reason,
            actor=_actor(actor),
            corrects_line_id=corrects,
        )
    if as_json:
        emit_json(_jsonable([line])[0])
        return
    typer.echo(f"line {line.id}: {line.component} {line.amount} {line.currency} in {line.period}")


@app.command("pay")
def pay(
    period: str = typer.Option(..., "--period", help="Pay approved lines booked in this period."),
    rep: str | None = typer.Option(None, "--rep", help="Only this rep."),
    reference: str | None = typer.Option(None, "--reference", help="Payment reference."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Mark approved lines paid (one payment per rep and currency). Paid lines never change."""
    with _ledger(ledger_url, schema) as ledger:
        payments = ledger.pay(period, _actor(actor), rep_id=rep, reference=reference)
    if as_json:
        emit_json(_jsonable(payments))
        return
    _print_table(
        "Payments",
        ["id", "rep", "amount", "lines", "reference"],
        [(p.id, p.rep_id, f"{p.amount} {p.currency}", p.line_count, p.reference) for p in payments],
    )


@app.command("payments")
def payments(
    period: str | None = typer.Option(None, "--period", help="Only this period."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List payments."""
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.payments(period=period)
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        "Payments",
        ["id", "period", "rep", "amount", "lines", "paid by"],
        [
            (p.id, p.period, p.rep_id, f"{p.amount} {p.currency}", p.line_count, p.paid_by)
            for p in rows
        ],
    )


@app.command("close-period")
def close_period(
    period: str = typer.Argument(..., help="Period to close, e.g. 2025-Q1."),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Close a period: later recalculations book deltas into an open period instead."""
    with _ledger(ledger_url, schema) as ledger:
        view = ledger.close_period(period, _actor(actor))
    if as_json:
        emit_json(_jsonable([view])[0])
        return
    typer.echo(f"period {view.period} closed by {view.closed_by}")


@app.command("periods")
def periods(
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the periods the ledger has seen and whether they are closed."""
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.periods()
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        "Periods",
        ["period", "status", "closed by", "closed at"],
        [(p.period, p.status, p.closed_by, p.closed_at) for p in rows],
    )


@app.command("audit")
def audit(
    entity: str | None = typer.Option(
        None, "--entity", help="TYPE or TYPE:ID, e.g. line:17, run, dispute:3, payment, plan."
    ),
    actor_filter: str | None = typer.Option(None, "--actor", help="Only entries by this user."),
    action: str | None = typer.Option(None, "--action", help="e.g. line.approved, run.posted."),
    limit: int | None = typer.Option(None, "--limit", help="Only the most recent N entries."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Query the append-only audit log (who, when, what, before and after)."""
    entity_type, _, entity_id = (entity or "").partition(":")
    with _ledger(ledger_url, schema) as ledger:
        rows = ledger.audit(
            entity_type=entity_type or None,
            entity_id=entity_id or None,
            actor=actor_filter,
            action=action,
            limit=limit,
        )
    if as_json:
        emit_json(_jsonable(rows))
        return
    _print_table(
        "Audit log",
        ["id", "at", "actor", "action", "entity", "change"],
        [
            (
                e.id,
                e.at.isoformat(timespec="seconds"),
                e.actor,
                e.action,
                f"{e.entity_type}:{e.entity_id}",
                _describe_change(e.before, e.after),
            )
            for e in rows
        ],
    )


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """`key: old -> new` for what changed (the full before/after is in --json)."""
    before, after = before or {}, after or {}
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if key in before and key in after and old == new:
            continue
        if key not in before:
            parts.append(f"{key}={_short(new)}")
        elif key not in after:
            parts.append(f"{key} was {_short(old)}")
        else:
            parts.append(f"{key}: {_short(old)} -> {_short(new)}")
    return "; ".join(parts)


@app.command("statement")
def statement(
    rep: str = typer.Option(..., "--rep", help="Rep id."),
    period: str = typer.Option(..., "--period", help="Period booked, e.g. 2025-Q1."),
    out: Path = typer.Option(..., "--out", help="Directory for the CSV and HTML files."),
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a rep's statement for a period as CSV (lines + summary) and HTML."""
    from spm_domain.ledger.statements import build_statement, write_statement

    with _ledger(ledger_url, schema) as ledger:
        built = build_statement(ledger, rep, period)
        paths = write_statement(built, out)
    if as_json:
        emit_json(
            {
                "rep_id": built.rep_id,
                "period": built.period,
                "currency": built.currency,
                "payout": format(built.payout, "f"),
                "line_count": len(built.all_lines),
                "files": {name: str(path) for name, path in paths.items()},
            }
        )
        return
    typer.echo(f"statement {rep} {period}: payout {built.payout} {built.currency}")
    for path in paths.values():
        typer.echo(f"  {path}")


@app.command("config")
def config(
    approval_levels: str | None = typer.Option(
        None, "--approval-levels", help="Comma-separated chain, e.g. manager,finance."
    ),
    actor: str | None = ACTOR_OPTION,
    ledger_url: str | None = LEDGER_OPTION,
    schema: str | None = SCHEMA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show or set the ledger's approval chain (stored in the ledger, audited)."""
    with _ledger(ledger_url, schema) as ledger:
        if approval_levels is not None:
            levels = ledger.set_approval_levels(approval_levels.split(","), _actor(actor))
        else:
            levels = ledger.approval_levels()
    if as_json:
        emit_json({"approval_levels": list(levels)})
        return
    typer.echo("approval levels: " + " -> ".join(levels))
