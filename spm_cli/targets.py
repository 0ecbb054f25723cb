"""`spm targets` (cascade, prorate) and `spm quota` (status): target setting
and quota tracking on the canonical tables.

This module is the adapter between the canonical store (DataFrames) and the
pure domain functions in `spm_domain.targets` / `spm_domain.quotas`: it turns
rows into typed records (errors name table, row and column), calls the domain
and renders the result. Heavy imports stay inside the verbs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json

if TYPE_CHECKING:
    import pandas as pd

    from features.ingest.storage import CanonicalStore
    from spm_domain.periods import Calendar, Period
    from spm_domain.quotas import CreditRecord, QuotaProgress
    from spm_domain.targets import AllocatedNode, OrgUnitRecord, RepRecord

targets_app = typer.Typer(
    help="Set targets: cascade a total down company → region → team → rep, prorate changes.",
    no_args_is_help=True,
)
quota_app = typer.Typer(
    help="Track quotas: target vs achievement, variance, pace, status and milestones.",
    no_args_is_help=True,
)

DATA_DIR_OPTION = typer.Option(
    "./data",
    "--data-dir",
    help="Canonical store: a directory (<dir>/canonical/*.parquet) or a PostgreSQL URL.",
)


def _error_map() -> dict[type[BaseException], ExitCode]:
    from features.ingest.storage import StoreError
    from spm_domain.errors import DomainError

    return {
        StoreError: ExitCode.UNAVAILABLE,
        FileNotFoundError: ExitCode.NOT_FOUND,
        DomainError: ExitCode.INVALID_INPUT,
        _InputError: ExitCode.INVALID_INPUT,
        _MissingData: ExitCode.NOT_FOUND,
    }


class _InputError(ValueError):
    """A canonical row or input file the verb cannot use (names table, row, column)."""


class _MissingData(LookupError):
    """The store lacks the rows a verb needs (e.g. no quotas for the period)."""


# ----------------------------------------------------------------- reading rows


@contextmanager
def _opened_store(data_dir: str) -> Iterator[CanonicalStore]:
    """The canonical store for one verb; a PostgreSQL engine is disposed afterwards."""
    from features.ingest.storage import open_store

    store = open_store(data_dir)
    try:
        yield store
    finally:
        dispose = getattr(store, "dispose", None)
        if callable(dispose):
            dispose()


def _read(store: CanonicalStore, name: str) -> pd.DataFrame:
    """One canonical table, with a transient spinner on stderr while it loads."""
    from rich.console import Console

    with Console(stderr=True).status(f"reading {name}", spinner="dots"):
        return store.read_table(name)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str | Decimal) and bool(pd.isna(value)))


def _text(table: str, row: int, column: str, value: Any, *, nullable: bool = False) -> str | None:
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        if nullable:
            return None
        raise _InputError(f"{table} row {row}: column {column} is empty")
    return str(value)


def _required_text(table: str, row: int, column: str, value: Any) -> str:
    text = _text(table, row, column, value)
    assert text is not None  # _text raises for a required empty value
    return text


def _decimal(
    table: str, row: int, column: str, value: Any, *, nullable: bool = False
) -> Decimal | None:
    from spm_domain.errors import InvalidAmountError
    from spm_domain.money import to_decimal

    if _missing(value):
        if nullable:
            return None
        raise _InputError(f"{table} row {row}: column {column} is empty")
    try:
        return to_decimal(value, field=column)
    except InvalidAmountError as exc:
        raise _InputError(f"{table} row {row}: {exc}") from None


def _date(table: str, row: int, column: str, value: Any, *, nullable: bool = False) -> date | None:
    import pandas as pd

    if _missing(value):
        if nullable:
            return None
        raise _InputError(f"{table} row {row}: column {column} is empty")
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        raise _InputError(f"{table} row {row}: column {column}: {value!r} is not a date") from None


def _rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based row number, {column: value}) with absent optional columns as None."""
    present = [c for c in columns if c in frame.columns]
    for number, values in enumerate(frame[present].itertuples(index=False, name=None), start=1):
        record = dict.fromkeys(columns)
        record.update(zip(present, values, strict=True))
        yield number, record


def _org_units(frame: pd.DataFrame) -> list[OrgUnitRecord]:
    from spm_domain.targets import OrgUnitRecord

    t = "org_units"
    return [
        OrgUnitRecord(
            _required_text(t, n, "unit_id", r["unit_id"]),
            _required_text(t, n, "kind", r["kind"]),
            _text(t, n, "name", r["name"], nullable=True) or str(r["unit_id"]),
            _text(t, n, "parent_id", r["parent_id"], nullable=True),
        )
        for n, r in _rows(frame, ("unit_id", "kind", "name", "parent_id"))
    ]


def _reps(frame: pd.DataFrame) -> list[RepRecord]:
    from spm_domain.targets import RepRecord

    t = "reps"
    cols = ("rep_id", "name", "team_id", "region_id", "hire_date", "termination_date")
    return [
        RepRecord(
            _required_text(t, n, "rep_id", r["rep_id"]),
            _text(t, n, "name", r["name"], nullable=True),
            _text(t, n, "team_id", r["team_id"], nullable=True),
            _text(t, n, "region_id", r["region_id"], nullable=True),
            _date(t, n, "hire_date", r["hire_date"], nullable=True),
            _date(t, n, "termination_date", r["termination_date"], nullable=True),
        )
        for n, r in _rows(frame, cols)
    ]


def _credit_records(frame: pd.DataFrame) -> list[CreditRecord]:
    from spm_domain.quotas import CreditRecord

    t = "transactions"
    cols = (
        "transaction_id", "rep_id", "credit_date", "share", "currency", "amount",
        "margin", "quantity", "account_id", "cancel_date",
    )  # fmt: skip
    out: list[CreditRecord] = []
    for n, r in _rows(frame, cols):
        credit_date = _date(t, n, "credit_date", r["credit_date"])
        share = _decimal(t, n, "share", r["share"])
        amount = _decimal(t, n, "amount", r["amount"])
        assert credit_date is not None and share is not None and amount is not None
        out.append(
            CreditRecord(
                transaction_id=_required_text(t, n, "transaction_id", r["transaction_id"]),
                rep_id=_required_text(t, n, "rep_id", r["rep_id"]),
                credit_date=credit_date,
                share=share,
                currency=_required_text(t, n, "currency", r["currency"]),
                amount=amount,
                margin=_decimal(t, n, "margin", r["margin"], nullable=True),
                quantity=_decimal(t, n, "quantity", r["quantity"], nullable=True),
                account_id=_text(t, n, "account_id", r["account_id"], nullable=True),
                cancel_date=_date(t, n, "cancel_date", r["cancel_date"], nullable=True),
            )
        )
    return out


# ----------------------------------------------------------------- formatting


def _fmt_units(units: int, currency: str | None) -> str:
    from spm_domain.money import Money
    from spm_domain.targets import units_to_amount

    if currency is None:
        return f"{units:,}"
    return Money(units_to_amount(units, currency), currency).format()


def _fmt_value(value: Decimal, currency: str | None) -> str:
    from spm_domain.money import Money

    if currency is None:
        return f"{value.normalize():,f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return Money(value, currency).format()


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same directory and rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _console() -> Any:
    """Rich console for stdout; wide when not a terminal so tables are not cropped."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    return console if console.is_terminal else Console(soft_wrap=True, width=200)


def _fx_rates(store: CanonicalStore) -> dict[tuple[str, str, str], Decimal]:
    """The canonical fx_rates as {(YYYY-MM, from, to): rate}."""
    t = "fx_rates"
    rates: dict[tuple[str, str, str], Decimal] = {}
    for n, r in _rows(_read(store, t), ("period", "from_currency", "to_currency", "rate")):
        key = (
            _required_text(t, n, "period", r["period"]),
            _required_text(t, n, "from_currency", r["from_currency"]),
            _required_text(t, n, "to_currency", r["to_currency"]),
        )
        rate = _decimal(t, n, "rate", r["rate"])
        assert rate is not None
        rates[key] = rate
    return rates


def _manager_of(frame: pd.DataFrame) -> dict[str, str | None]:
    t = "reps"
    return {
        _required_text(t, n, "rep_id", r["rep_id"]): _text(
            t, n, "manager_id", r["manager_id"], nullable=True
        )
        for n, r in _rows(frame, ("rep_id", "manager_id"))
    }


def _calendar(fiscal_start_month: int, timezone: str) -> Calendar:
    from spm_domain.periods import Calendar

    return Calendar(fiscal_year_start_month=fiscal_start_month, timezone=timezone)


FISCAL_START_OPTION = typer.Option(
    1, "--fiscal-start-month", help="First month of the fiscal year."
)
TIMEZONE_OPTION = typer.Option("UTC", "--timezone", help="Timezone of period boundaries.")


# ----------------------------------------------------------------- spm targets cascade


def _load_weights(path: Path) -> dict[str, Decimal]:
    """Weights from CSV (`id,weight` header) or a YAML/JSON mapping {id: weight}."""
    import yaml

    from spm_domain.errors import InvalidAmountError
    from spm_domain.money import to_decimal

    text = path.read_text(encoding="utf-8")
    weights: dict[str, Decimal] = {}
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or not {"id", "weight"} <= set(reader.fieldnames):
            raise _InputError(f"{path}: needs a header with columns id,weight")
        for number, row in enumerate(reader, start=2):
            key = (row["id"] or "").strip()
            if not key:
                raise _InputError(f"{path} line {number}: column id is empty")
            if key in weights:
                raise _InputError(f"{path} line {number}: duplicate id {key!r}")
            try:
                weights[key] = to_decimal(row["weight"] or "", field="weight")
            except InvalidAmountError as exc:
                raise _InputError(f"{path} line {number}: {exc}") from None
        return weights
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise _InputError(f"{path}: expected a mapping of id: weight")
    for key, value in data.items():
        if isinstance(value, float):
            raise _InputError(f"{path}: weight of {key!r} is a float; quote it or use integers")
        try:
            weights[str(key)] = to_decimal(value, field=f"weight of {key!r}")
        except InvalidAmountError as exc:
            raise _InputError(f"{path}: {exc}") from None
    return weights


def _previous_period(calendar: Calendar, period: Period) -> Period:
    from spm_domain.periods import PeriodKind

    if period.kind is PeriodKind.CUSTOM:
        raise _InputError(f"period {period.key} is custom: give --history-period")
    return calendar.containing(period.start - timedelta(days=1), period.kind)


def _node_json(
    node: AllocatedNode, currency: str | None, month_keys: Sequence[str]
) -> dict[str, Any]:
    from spm_domain.targets import units_to_amount

    out: dict[str, Any] = {
        "id": node.node_id,
        "level": node.level.value,
        "name": node.name,
        "amount": str(units_to_amount(node.amount, currency)),
        "amount_units": node.amount,
        "split_method": node.method.value if node.method else None,
        "fell_back_to_equal": node.fell_back_to_equal,
    }
    if node.months is not None:
        out["months"] = {
            k: str(units_to_amount(v, currency))
            for k, v in zip(month_keys, node.months, strict=True)
        }
    if node.mix:
        out["product_mix"] = {k: str(units_to_amount(v, currency)) for k, v in node.mix.items()}
    out["children"] = [_node_json(c, currency, month_keys) for c in node.children]
    return out


def _csv_rows(tree: AllocatedNode, currency: str | None, month_keys: Sequence[str]) -> str:
    from spm_domain.targets import units_to_amount

    products = list(tree.mix)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["node_id", "level", "name", "parent_id", "amount", *month_keys, *products])

    def visit(node: AllocatedNode, parent: str | None) -> None:
        months = [str(units_to_amount(v, currency)) for v in node.months or ()]
        mix = [str(units_to_amount(node.mix[p], currency)) for p in products] if node.mix else []
        amount = str(units_to_amount(node.amount, currency))
        writer.writerow(
            [node.node_id, node.level.value, node.name, parent or "", amount, *months, *mix]
        )
        for child in node.children:
            visit(child, node.node_id)

    visit(tree, None)
    return buffer.getvalue()


def _render_tree(tree: AllocatedNode, currency: str | None) -> None:
    from rich.tree import Tree

    def label(node: AllocatedNode) -> str:
        text = f"[bold]{node.name}[/] ({node.level.value}) {_fmt_units(node.amount, currency)}"
        if node.children:
            ok = sum(c.amount for c in node.children) == node.amount
            text += f"  [{'green' if ok else 'red'}]Σ children {'✓' if ok else '✗'}[/]"
            text += f"  [dim]split: {node.method.value if node.method else '-'}"
            text += " → equal (no weight)" if node.fell_back_to_equal else ""
            text += "[/]"
        return text

    root = Tree(label(tree))

    def add(parent: Tree, node: AllocatedNode) -> None:
        branch = parent.add(label(node))
        for child in node.children:
            add(branch, child)

    for child in tree.children:
        add(root, child)
    _console().print(root)


@targets_app.command("cascade")
def cascade(
    total: str = typer.Option(..., "--total", help="Total target, e.g. 12000000 (exact decimal)."),
    period_key: str = typer.Option(..., "--period", help="Target period: 2017, 2017-Q3, 2017-07."),
    currency: str | None = typer.Option(None, "--currency", help="ISO 4217 code (money measures)."),
    method: str | None = typer.Option(
        None, "--method", help="history | equal | weights, for every level (overrides a template)."
    ),
    weights_file: Path | None = typer.Option(
        None, "--weights", help="Weights by node id: CSV `id,weight` or YAML/JSON mapping."
    ),
    profile: str | None = typer.Option(
        None, "--profile", help="seasonal | flat | none: monthly split of an annual target."
    ),
    template_file: Path | None = typer.Option(None, "--template", help="Target template YAML."),
    measure_name: str | None = typer.Option(
        None, "--measure", help="revenue | units | new_customers | margin (default revenue)."
    ),
    history_key: str | None = typer.Option(
        None,
        "--history-period",
        help="Period whose achievement drives history (default: previous).",
    ),
    root: str | None = typer.Option(
        None, "--root", help="Org unit to cascade from (default: the only company root)."
    ),
    include_managers: bool = typer.Option(
        False, "--include-managers", help="Give reps who manage others an individual target too."
    ),
    data_dir: str = DATA_DIR_OPTION,
    out: Path | None = typer.Option(None, "--out", help="Write the result: .json (tree) or .csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    fiscal_start_month: int = FISCAL_START_OPTION,
    timezone: str = TIMEZONE_OPTION,
) -> None:
    """Cascade a total target down company → region → team → rep with exact sums."""
    with cli_errors(_error_map()):
        result = _cascade(
            total, period_key, currency, method, weights_file, profile, template_file,
            measure_name, history_key, data_dir, fiscal_start_month, timezone,
            root, include_managers,
        )  # fmt: skip
        tree, payload = result
        if out is not None:
            if out.suffix.lower() == ".csv":
                cur = payload["currency"]
                _atomic_write(out, _csv_rows(tree, cur, list(payload["month_keys"])))
            else:
                _atomic_write(out, json.dumps(payload, indent=2, sort_keys=True) + "\n")
        if as_json:
            emit_json(payload)
            return
        cur = payload["currency"]
        header = (
            f"Targets {payload['period']} · {payload['measure']} · total "
            f"{_fmt_units(tree.amount, cur)} · methods region={payload['methods']['region']} "
            f"team={payload['methods']['team']} rep={payload['methods']['rep']}"
        )
        typer.echo(header)
        _render_tree(tree, cur)
        typer.echo(f"history: {payload['history_period']} ({payload['history_note']})")
        if payload["month_keys"]:
            months = ", ".join(
                f"{k} {_fmt_units(v, cur)}"
                for k, v in zip(payload["month_keys"], tree.months or (), strict=True)
            )
            typer.echo(f"profile {payload['profile']}: {months}")
        typer.echo("check: every level sums exactly to its parent ✓")
        if out is not None:
            typer.echo(f"wrote {out}")


def _cascade(
    total: str,
    period_key: str,
    currency: str | None,
    method: str | None,
    weights_file: Path | None,
    profile_name: str | None,
    template_file: Path | None,
    measure_name: str | None,
    history_key: str | None,
    data_dir: str,
    fiscal_start_month: int,
    timezone: str,
    root: str | None,
    include_managers: bool,
) -> tuple[AllocatedNode, dict[str, Any]]:
    with _opened_store(data_dir) as store:
        return _cascade_in(
            store, total, period_key, currency, method, weights_file, profile_name,
            template_file, measure_name, history_key, fiscal_start_month, timezone,
            root, include_managers,
        )  # fmt: skip


def _cascade_in(
    store: CanonicalStore,
    total: str,
    period_key: str,
    currency: str | None,
    method: str | None,
    weights_file: Path | None,
    profile_name: str | None,
    template_file: Path | None,
    measure_name: str | None,
    history_key: str | None,
    fiscal_start_month: int,
    timezone: str,
    root: str | None,
    include_managers: bool,
) -> tuple[AllocatedNode, dict[str, Any]]:
    from spm_domain.periods import PeriodKind
    from spm_domain.quotas import credits_by_rep
    from spm_domain.targets import (
        FLAT_PROFILE,
        AllocationMethod,
        CascadeRules,
        ProfileChoice,
        TargetTemplate,
        apply_monthly_split,
        apply_product_mix,
        build_org_tree,
        cascade_target,
        parse_measure,
        parse_template,
        profile_from_history,
        split_annual_target,
        sum_errors,
        total_to_units,
    )

    template = (
        parse_template(template_file.read_text(encoding="utf-8"), str(template_file))
        if template_file is not None
        else TargetTemplate(name="command-line")
    )
    measure = parse_measure(measure_name, field="--measure") if measure_name else template.measure
    currency = currency or template.currency
    if not measure.is_money:
        currency = None
    rules = template.rules()
    if method is not None:
        try:
            rules = CascadeRules.uniform(AllocationMethod(method))
        except ValueError:
            raise _InputError(f"--method {method!r}: expected history, equal or weights") from None
    try:
        profile_choice = ProfileChoice(profile_name) if profile_name else template.profile
    except ValueError:
        raise _InputError(f"--profile {profile_name!r}: expected seasonal, flat or none") from None
    total_units = total_to_units(total, measure, currency)

    calendar = _calendar(fiscal_start_month, timezone)
    period = calendar.parse(period_key)
    if profile_choice is not ProfileChoice.NONE and period.kind is not PeriodKind.YEAR:
        raise _InputError(
            f"--profile {profile_choice.value} splits a year; {period.key} is not one"
        )
    history_period = (
        calendar.parse(history_key) if history_key else _previous_period(calendar, period)
    )

    units_frame = _read(store, "org_units")
    if units_frame.empty:
        raise _MissingData(f"no org_units in the store at {store.location}: import data first")
    reps_frame = _read(store, "reps")
    # Managers carry their team's number, not an individual target (unless asked).
    managers = set() if include_managers else {m for m in _manager_of(reps_frame).values() if m}
    tree = build_org_tree(
        _org_units(units_frame),
        _reps(reps_frame),
        root_id=root,
        exclude_reps=managers,
        active_from=period.start,
        active_until=period.end,
    )
    rep_ids = tree.rep_ids()
    history: dict[str, Decimal] = {}
    monthly_history: dict[int, Decimal] = {}
    uses_history = AllocationMethod.HISTORY in (rules.region, rules.team, rules.rep)
    skipped_note = ""
    if uses_history or profile_choice is ProfileChoice.SEASONAL:
        all_records = _credit_records(_read(store, "transactions"))
        fx = _fx_rates(store) if measure.is_money else None
        # Default history is the previous period; if it has no credits at all (e.g. a
        # data set covering one year), the target period's own credits are used instead.
        candidates = [history_period] if history_key else [history_period, period]
        for candidate in candidates:
            credits = credits_by_rep(
                all_records,
                measure,
                currency=currency,
                cancelled_by=candidate.end,
                rep_ids=rep_ids,
                fx=fx,
                between=(candidate.start, candidate.end),
            )
            if credits:
                if candidate is not history_period:
                    skipped_note = f"; {history_period.key} has no credits"
                history_period = candidate
                break
        for rep_id, values in credits.items():
            for value in values:
                history[rep_id] = history.get(rep_id, Decimal(0)) + value.value
                month = value.day.month
                monthly_history[month] = monthly_history.get(month, Decimal(0)) + value.value
    history_total = sum(history.values(), Decimal(0))
    history_note = (
        f"{measure.value} {_fmt_value(history_total, currency)} over {len(history)} reps"
        + skipped_note
        if history
        else "no credits: history-weighted levels fall back to equal"
    )
    weights = _load_weights(weights_file) if weights_file is not None else None
    uses_weights = AllocationMethod.WEIGHTS in (rules.region, rules.team, rules.rep)
    if uses_weights and weights is None:
        raise _InputError("method 'weights' needs --weights FILE")

    allocated = cascade_target(total_units, tree, rules, history=history, weights=weights)
    month_keys: list[str] = []
    if profile_choice is not ProfileChoice.NONE:
        year = calendar.fiscal_year_of(period.start)
        profile = (
            FLAT_PROFILE
            if profile_choice is ProfileChoice.FLAT
            else profile_from_history(monthly_history, calendar, flat_blend=template.flat_blend)
        )
        months = split_annual_target(total_units, profile, calendar, year)
        month_keys = [p.key for p, _ in months]
        allocated = apply_monthly_split(allocated, [v for _, v in months])
    if template.product_mix:
        allocated = apply_product_mix(allocated, template.product_mix)
    problems = sum_errors(allocated)
    if problems:  # the arithmetic guarantees this never happens; refuse to output if it does
        raise RuntimeError("allocation does not sum exactly: " + "; ".join(problems[:5]))
    payload: dict[str, Any] = {
        "template": template.name,
        "period": period.key,
        "measure": measure.value,
        "currency": currency,
        "total": total,
        "methods": {"region": rules.region.value, "team": rules.team.value, "rep": rules.rep.value},
        "history_period": history_period.key,
        "history_note": history_note,
        "profile": profile_choice.value,
        "month_keys": month_keys,
        "reps": len(rep_ids),
        "root": tree.node_id,
        "excluded_managers": sorted(managers & {r.rep_id for r in _reps(reps_frame)}),
        "checks": {"exact_sums": True},
        "tree": _node_json(allocated, currency, month_keys),
    }
    return allocated, payload


# ----------------------------------------------------------------- spm targets prorate


def _parse_change(text: str, period: Period) -> tuple[date, str]:
    from spm_domain.targets import day_of_period

    when, sep, value = text.partition("=")
    if not sep or not value.strip():
        raise _InputError(f"--change {text!r}: expected DATE=TARGET or dayN=TARGET")
    when = when.strip()
    if when.lower().startswith("day"):
        try:
            number = int(when[3:])
        except ValueError:
            raise _InputError(f"--change {text!r}: {when!r} is not dayN") from None
        return day_of_period(period, number), value.strip()
    try:
        return date.fromisoformat(when), value.strip()
    except ValueError:
        raise _InputError(f"--change {text!r}: {when!r} is not an ISO date") from None


@targets_app.command("prorate")
def prorate(
    period_key: str = typer.Option(..., "--period", help="Period, e.g. 2017-Q3."),
    target: str = typer.Option(..., "--target", help="Target in force at the period start."),
    changes: list[str] = typer.Option(
        [], "--change", help="DATE=TARGET or dayN=TARGET (effective from that day); repeatable."
    ),
    currency: str | None = typer.Option(None, "--currency", help="ISO 4217 code (money)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    fiscal_start_month: int = FISCAL_START_OPTION,
) -> None:
    """Day-weighted target of a period whose target changed mid-period."""
    with cli_errors(_error_map()):
        from spm_domain.targets import Measure, TargetChange, prorate_target, total_to_units
        from spm_domain.targets import units_to_amount as amount_of

        measure = Measure.REVENUE if currency else Measure.UNITS
        period = _calendar(fiscal_start_month, "UTC").parse(period_key)
        parsed = [_parse_change(c, period) for c in changes]
        result = prorate_target(
            period,
            total_to_units(target, measure, currency),
            [TargetChange(d, total_to_units(v, measure, currency)) for d, v in parsed],
        )
        segments = [
            {
                "from": s.start.isoformat(),
                "to": (s.end - timedelta(days=1)).isoformat(),
                "days": s.days,
                "target": str(amount_of(s.target, currency)),
            }
            for s in result.segments
        ]
        payload = {
            "period": period.key,
            "days": period.days,
            "currency": currency,
            "segments": segments,
            "effective_target": str(amount_of(result.effective, currency)),
        }
        if as_json:
            emit_json(payload)
            return
        for s in segments:
            typer.echo(f"{s['from']} .. {s['to']}  {s['days']:>3} days at {s['target']}")
        typer.echo(f"effective {period.key} target: {payload['effective_target']} {currency or ''}")


# ----------------------------------------------------------------- spm quota status


def _parse_as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _InputError(f"--as-of {text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise _InputError(f"--as-of {text!r} has no timezone; add one, e.g. +00:00")
    return moment


def _parse_milestone(text: str) -> tuple[date, Decimal]:
    from spm_domain.money import to_decimal

    when, sep, fraction = text.partition("=")
    try:
        due = date.fromisoformat(when.strip())
        value = to_decimal(fraction.strip(), field="milestone fraction")
    except ValueError:
        raise _InputError(
            f"--milestone {text!r}: expected DATE=FRACTION, e.g. 2017-07-31=0.3"
        ) from None
    if not sep or not Decimal(0) < value <= Decimal(1):
        raise _InputError(f"--milestone {text!r}: the fraction must be in (0, 1]")
    return due, value


def _progress_json(p: QuotaProgress) -> dict[str, Any]:
    def s(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "rep_id": p.rep_id,
        "period": p.period,
        "measure": p.measure.value,
        "currency": p.currency,
        "target": s(p.target),
        "achieved": s(p.achieved),
        "variance": s(p.variance),
        "variance_pct": s(p.variance_pct),
        "attainment": s(p.attainment),
        "elapsed": s(p.elapsed),
        "expected_to_date": s(p.expected_to_date),
        "pace_ratio": s(p.pace_ratio),
        "status": p.status.value,
        "period_closed": p.period_closed,
        "milestones": [
            {
                "name": m.milestone.name,
                "due": m.milestone.due.isoformat(),
                "required_fraction": str(m.milestone.required_fraction),
                "required": str(m.required),
                "achieved_by_due": str(m.achieved_by_due),
                "state": m.state.value,
            }
            for m in p.milestones
        ],
    }


@quota_app.command("status")
def status(
    period_key: str = typer.Option(..., "--period", help="Quota period: 2017-Q3, 2017-07, 2017."),
    as_of_text: str | None = typer.Option(
        None, "--as-of", help="Aware ISO moment, e.g. 2017-08-15T00:00:00+00:00 (default now)."
    ),
    rep_ids: list[str] = typer.Option([], "--rep", help="Only this rep (repeatable)."),
    measure_name: str | None = typer.Option(None, "--measure", help="Only this measure."),
    milestones_text: list[str] = typer.Option(
        [], "--milestone", help="DATE=FRACTION interim goal (repeatable; replaces the defaults)."
    ),
    at_risk_below_pace: str = typer.Option("0.90", help="At Risk below this share of pace."),
    achieved_at: str = typer.Option("1.00", help="Achieved at this attainment."),
    exceeded_at: str = typer.Option("1.10", help="Exceeded at this attainment."),
    not_started_grace: str = typer.Option(
        "0.10", help="Zero achievement before this elapsed share is Not Started."
    ),
    own_credits_only: bool = typer.Option(
        False,
        "--own-credits-only",
        help="Measure managers on their own credits only (default: plus their reports').",
    ),
    data_dir: str = DATA_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    fiscal_start_month: int = FISCAL_START_OPTION,
    timezone: str = TIMEZONE_OPTION,
) -> None:
    """Per rep: target, achievement, variance, pace, status and milestones."""
    with cli_errors(_error_map()):
        from pydantic import ValidationError

        from spm_domain.quotas import StatusRules

        try:
            rules = StatusRules(
                at_risk_below_pace=Decimal(at_risk_below_pace),
                achieved_at=Decimal(achieved_at),
                exceeded_at=Decimal(exceeded_at),
                not_started_grace=Decimal(not_started_grace),
            )
        except (ValidationError, ArithmeticError) as exc:
            raise _InputError(f"status rules: {exc}") from None
        calendar = _calendar(fiscal_start_month, timezone)
        results = _quota_status(
            calendar, period_key, _parse_as_of(as_of_text), rep_ids, measure_name,
            milestones_text, rules, data_dir, show_progress=not as_json,
            roll_up=not own_credits_only,
        )  # fmt: skip
        if as_json:
            emit_json([_progress_json(p) for p in results])
            return
        _render_status(results)


def _quota_status(
    calendar: Calendar,
    period_key: str,
    as_of: datetime,
    rep_ids: Sequence[str],
    measure_name: str | None,
    milestones_text: Sequence[str],
    rules: Any,
    data_dir: str,
    *,
    show_progress: bool,
    roll_up: bool,
) -> list[QuotaProgress]:
    with _opened_store(data_dir) as store:
        return _quota_status_in(
            store, calendar, period_key, as_of, rep_ids, measure_name, milestones_text,
            rules, show_progress=show_progress, roll_up=roll_up,
        )  # fmt: skip


def _quota_status_in(
    store: CanonicalStore,
    calendar: Calendar,
    period_key: str,
    as_of: datetime,
    rep_ids: Sequence[str],
    measure_name: str | None,
    milestones_text: Sequence[str],
    rules: Any,
    *,
    show_progress: bool,
    roll_up: bool,
) -> list[QuotaProgress]:
    from spm_domain.quotas import Milestone, evaluate_quota, roll_up_to_managers
    from spm_domain.quotas import credits_by_rep as credits_of
    from spm_domain.targets import parse_measure

    period = calendar.parse(period_key)
    milestones = None
    if milestones_text:
        milestones = [
            Milestone(f"{fraction} by {due.isoformat()}", due, fraction)
            for due, fraction in (_parse_milestone(t) for t in milestones_text)
        ]
    quotas = _read(store, "quotas")
    rows = [
        (n, r)
        for n, r in _rows(quotas, ("rep_id", "period", "measure", "quota", "currency"))
        if r["period"] == period.key
    ]
    if not rows:
        known = sorted({str(p) for p in quotas["period"].dropna()})[:12] if len(quotas) else []
        raise _MissingData(
            f"no quotas for period {period.key} in {store.location}"
            + (f"; periods present include {', '.join(known)}" if known else "")
        )
    if measure_name:
        wanted = parse_measure(measure_name, field="--measure")
        rows = [(n, r) for n, r in rows if r["measure"] == wanted.value]
    if rep_ids:
        rows = [(n, r) for n, r in rows if r["rep_id"] in set(rep_ids)]
        missing = sorted(set(rep_ids) - {str(r["rep_id"]) for _, r in rows})
        if missing:
            raise _MissingData(f"no {period.key} quota for rep(s) {', '.join(missing)}")
    if not rows:
        raise _MissingData(f"no {period.key} quotas match the filters")
    records = _credit_records(_read(store, "transactions"))
    cancelled_by = calendar.local_date(as_of)
    manager_of = _manager_of(_read(store, "reps")) if roll_up else {}
    fx = _fx_rates(store)
    cache: dict[tuple[str, str | None], dict[str, Any]] = {}
    results: list[QuotaProgress] = []
    for n, r in _track(rows, "evaluating quotas", show_progress):
        t = "quotas"
        rep = _required_text(t, n, "rep_id", r["rep_id"])
        measure = parse_measure(
            _required_text(t, n, "measure", r["measure"]), field=f"quotas row {n}: measure"
        )
        currency = (
            _text(t, n, "currency", r["currency"], nullable=True) if measure.is_money else None
        )
        if measure.is_money and currency is None:
            raise _InputError(
                f"quotas row {n}: column currency is empty for a {measure.value} quota"
            )
        target = _decimal(t, n, "quota", r["quota"])
        assert target is not None
        key = (measure.value, currency)
        if key not in cache:
            quota_reps = {str(q["rep_id"]) for _, q in rows if q["measure"] == measure.value}
            counted = _with_reports(quota_reps, manager_of)
            credits = credits_of(
                records,
                measure,
                currency=currency,
                cancelled_by=cancelled_by,
                rep_ids=counted,
                fx=fx,
                between=(period.start, period.end),
            )
            cache[key] = roll_up_to_managers(credits, manager_of) if roll_up else credits
        results.append(
            evaluate_quota(
                rep_id=rep,
                measure=measure,
                currency=currency,
                target=target,
                credits=cache[key].get(rep, []),
                period=period,
                as_of=as_of,
                calendar=calendar,
                rules=rules,
                milestones=milestones,
            )
        )
    return sorted(results, key=lambda p: (p.measure.value, p.rep_id))


def _with_reports(rep_ids: set[str], manager_of: dict[str, str | None]) -> set[str]:
    """The reps plus everyone below them in the management chain."""
    out = set(rep_ids)
    for rep in manager_of:
        seen: set[str] = set()
        boss = manager_of.get(rep)
        while boss and boss not in seen:
            if boss in rep_ids:
                out.add(rep)
                break
            seen.add(boss)
            boss = manager_of.get(boss)
    return out


def _track(items: list[Any], description: str, show: bool) -> Iterator[Any]:
    """Iterate with a transient rich progress bar on stderr (hidden for --json)."""
    if not show:
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, description=description, console=Console(stderr=True), transient=True)


def _render_status(results: Sequence[QuotaProgress]) -> None:
    from rich.table import Table

    from spm_domain.quotas import MilestoneState, QuotaStatus

    colours = {
        QuotaStatus.NOT_STARTED: "dim",
        QuotaStatus.ON_TRACK: "green",
        QuotaStatus.AT_RISK: "red",
        QuotaStatus.ACHIEVED: "cyan",
        QuotaStatus.EXCEEDED: "bold cyan",
    }
    marks = {MilestoneState.MET: "✓", MilestoneState.MISSED: "✗", MilestoneState.PENDING: "…"}
    first = results[0]
    table = Table(
        title=f"Quota status {first.period} at {_pct(first.elapsed)} of the period",
        show_lines=False,
    )
    for column in ("rep", "measure", "target", "achieved", "variance", "var %", "expected", "pace"):
        table.add_column(column, justify="left" if column in ("rep", "measure") else "right")
    table.add_column("status")
    table.add_column("milestones")
    for p in results:
        table.add_row(
            p.rep_id,
            p.measure.value,
            _fmt_value(p.target, p.currency),
            _fmt_value(p.achieved, p.currency),
            _fmt_value(p.variance, p.currency),
            _pct(p.variance_pct),
            _fmt_value(p.expected_to_date.quantize(Decimal("0.01")), p.currency),
            _pct(p.pace_ratio),
            f"[{colours[p.status]}]{p.status.value}[/]",
            " ".join(f"{marks[m.state]}{m.milestone.due.strftime('%m-%d')}" for m in p.milestones),
        )
    console = _console()
    console.print(table)
    counts: dict[str, int] = {}
    for p in results:
        counts[p.status.value] = counts.get(p.status.value, 0) + 1
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
