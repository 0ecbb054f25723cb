"""The exact commission engine: plan + tables -> payout lines and statements.

Everything is computed in `Decimal` (60 significant digits, see
`spm_domain.money.EXACT_CONTEXT`) and each line is rounded once, to the plan
currency's minor unit, with the plan's rounding mode. Statements are sums of
rounded lines. The rules the contract leaves open are decided in
docs/commissions.md; the comments below say where each one is applied.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pandas as pd

from spm_domain.commissions.plan import (
    BonusComponent,
    FixedPerDealComponent,
    FixedPerUnitComponent,
    OverrideComponent,
    PayoutCurveComponent,
    PercentageComponent,
    Plan,
    RateTableComponent,
    TieredComponent,
    load_plan,
)
from spm_domain.commissions.tables import (
    CommissionInputError,
    Credit,
    RosterEntry,
    TableSource,
    TextTable,
    TransactionRules,
    parse_fx,
    parse_quotas,
    parse_roster,
    parse_transactions,
    read_table,
)
from spm_domain.commissions.tiers import (
    ZERO,
    Band,
    band_index,
    bands,
    curve_fraction,
    curve_payout,
    describe_band,
    fmt_attainment,
    fmt_money,
    fmt_number,
    fmt_pct,
    marginal_slices,
)
from spm_domain.currency import Currency, get_currency
from spm_domain.errors import InvalidPeriodError
from spm_domain.money import EXACT_CONTEXT, RoundingMode, round_amount
from spm_domain.periods import DEFAULT_CALENDAR, Calendar, Period, PeriodKind

log = logging.getLogger(__name__)

ENGINE_VERSION = "1.1.0"  # 1.1.0: the cap is per period in cumulative plans, rounded down
ATTAINMENT_DECIMALS = Decimal("0.000001")  # statements show attainment to 6 decimals

LINE_COLUMNS = (
    "rep_id",
    "period",
    "component",
    "transaction_id",
    "credited_amount",
    "rate",
    "amount",
    "currency",
    "explanation",
)
STATEMENT_COLUMNS = (
    "rep_id",
    "period",
    "credited",
    "quota",
    "attainment",
    "gross",
    "adjustments",
    "payout",
    "currency",
)

# Order of lines inside one statement: components (plan order), then the
# adjustments in the contract's order.
PHASE_COMPONENT, PHASE_CAP, PHASE_DRAW, PHASE_RECOVERY, PHASE_CLAWBACK = range(5)


@dataclass(frozen=True, slots=True)
class Line:
    rep_id: str
    period: Period
    component: str
    transaction_id: str | None
    credited: Decimal | None
    rate: Decimal | None
    amount: Decimal
    explanation: str
    order: tuple[Any, ...]

    def sort_key(self) -> tuple[Any, ...]:
        return (self.period.start, self.rep_id, *self.order)


@dataclass(frozen=True, slots=True)
class _Exact:
    """An unrounded component result for one key (component, transaction)."""

    amount: Decimal
    credited: Decimal | None
    rate: Decimal | None
    explanation: str
    order: tuple[Any, ...]


_Key = tuple[int, str]  # (component index, transaction id or "" for period-level)


@dataclass
class CommissionResult:
    """Lines and statements (Decimal object columns) plus the run manifest."""

    lines: pd.DataFrame
    statements: pd.DataFrame
    manifest: dict[str, Any]
    line_records: list[Line] = field(repr=False, default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """Lines, statements and manifest as JSON-ready data (Decimals as exact strings,
        empty values as null): what the HTTP API returns."""

        def records(frame: pd.DataFrame) -> list[dict[str, str | None]]:
            return [
                {
                    str(k): None
                    if v is None
                    else (format(v, "f") if isinstance(v, Decimal) else str(v))
                    for k, v in row.items()
                }
                for row in frame.to_dict(orient="records")
            ]

        return {
            "lines": records(self.lines),
            "statements": records(self.statements),
            "manifest": self.manifest,
        }


@dataclass
class _Context:
    plan: Plan
    currency: Currency
    rounding: RoundingMode
    calendar: Calendar
    kind: PeriodKind
    roster: dict[str, RosterEntry]
    quotas: dict[tuple[str, str], Decimal]
    names: list[str]
    problems: list[str] = field(default_factory=list)
    _periods: dict[date, Period] = field(default_factory=dict)
    _eligible: dict[tuple[str, str], bool] = field(default_factory=dict)
    _quota: dict[tuple[str, str], Decimal | None] = field(default_factory=dict)

    def round(self, amount: Decimal) -> Decimal:
        value = round_amount(amount, self.currency, self.rounding)
        return value.copy_abs() if value == 0 else value

    def money(self, amount: Decimal) -> str:
        return fmt_money(amount, self.currency)

    def period_of(self, day: date) -> Period:
        found = self._periods.get(day)
        if found is None:
            found = self._periods[day] = self.calendar.containing(day, self.kind)
        return found


# -- eligibility --------------------------------------------------------------


def _eligible_in(ctx: _Context, rep_id: str, period: Period) -> bool:
    """Plan eligibility of a rep for a whole period (docs: Eligibility)."""
    key = (rep_id, period.key)
    found = ctx._eligible.get(key)
    if found is None:
        found = ctx._eligible[key] = _eligibility(ctx, rep_id, period)
    return found


def _eligibility(ctx: _Context, rep_id: str, period: Period) -> bool:
    rules = ctx.plan.eligibility
    entry = ctx.roster.get(rep_id)
    if entry is None:
        return rules is None or not rules.roles
    if entry.hire_date is not None and entry.hire_date > period.last_day:
        return False
    if entry.terminated_date is not None and entry.terminated_date < period.start:
        return False
    if rules is None:
        return True
    if rules.roles and entry.role not in rules.roles:
        return False
    if rules.min_tenure_days and entry.hire_date is not None:
        return (period.last_day - entry.hire_date).days >= rules.min_tenure_days
    return True


def _credit_counts(ctx: _Context, credit: Credit) -> bool:
    entry = ctx.roster.get(credit.rep_id)
    if entry is not None and not entry.employed_on(credit.credit_date):
        return False
    return _eligible_in(ctx, credit.rep_id, ctx.period_of(credit.credit_date))


# -- quotas -------------------------------------------------------------------


def _quota_for(ctx: _Context, rep_id: str, period: Period) -> Decimal | None:
    """Exact key, else the sum of finer quotas that tile the period (months or quarters)."""
    key = (rep_id, period.key)
    if key not in ctx._quota:
        ctx._quota[key] = _resolve_quota(ctx, rep_id, period)
    return ctx._quota[key]


def _resolve_quota(ctx: _Context, rep_id: str, period: Period) -> Decimal | None:
    exact = ctx.quotas.get((rep_id, period.key))
    if exact is not None:
        return exact
    finer_kinds = {
        PeriodKind.QUARTER: (PeriodKind.MONTH,),
        PeriodKind.YEAR: (PeriodKind.QUARTER, PeriodKind.MONTH),
    }.get(period.kind, ())
    for finer in finer_kinds:
        parts = ctx.calendar.periods_between(period.start, period.last_day, finer)
        values = [ctx.quotas.get((rep_id, p.key)) for p in parts]
        if all(v is not None for v in values):
            return sum((v for v in values if v is not None), ZERO)
    return None


def _periods_elapsed(ctx: _Context, period: Period) -> list[Period]:
    """Plan periods of the fiscal year up to and including `period`."""
    fy = ctx.calendar.fiscal_year(ctx.calendar.fiscal_year_of(period.start))
    return ctx.calendar.periods_between(fy.start, period.last_day, ctx.kind)


# -- component evaluation -------------------------------------------------------


def _matches(component: Any, credit: Credit) -> bool:
    flt = component.filter
    if not flt:
        return True
    for column, wanted in flt.items():
        value = credit.fields.get(column, "")
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif isinstance(wanted, str):
            if value != wanted:
                return False
        else:
            try:
                day = date.fromisoformat(value[:10])
            except ValueError:
                return False
            if not wanted.contains(day):
                return False
    return True


@dataclass
class _Measure:
    """What attainment-based components need for one rep and one evaluation window."""

    rep_id: str
    label: str  # period key, or "2025-Q1..2025-Q2" style for year-to-date
    quota: Decimal | None
    multiplier: Decimal  # 1, or periods elapsed in the year (cumulative)
    ytd: bool


def _need_quota(ctx: _Context, m: _Measure, component_name: str) -> Decimal | None:
    if m.quota is None:
        ctx.problems.append(
            f"quotas: no quota for rep {m.rep_id!r} in {m.label} "
            f"(needed by attainment-based component {component_name!r})"
        )
        return None
    if m.quota == 0:
        ctx.problems.append(
            f"quotas: quota of rep {m.rep_id!r} in {m.label} is zero; attainment is undefined "
            f"(component {component_name!r})"
        )
        return None
    return m.quota


def _tx_order(credit: Credit) -> tuple[Any, ...]:
    return (0, credit.credit_date, credit.transaction_id)


def _evaluate_tiered(
    ctx: _Context, index: int, comp: TieredComponent, credits: list[Credit], m: _Measure
) -> dict[_Key, _Exact]:
    out: dict[_Key, _Exact] = {}
    if not credits:
        return out
    name = ctx.names[index]
    uptos = [t.upto for t in comp.tiers]
    rates = [t.rate for t in comp.tiers]
    of_quota = comp.basis == "attainment"
    if of_quota:
        quota = _need_quota(ctx, m, name)
        if quota is None:
            return out
        scale = quota
    else:
        scale = m.multiplier if comp.scope == "period" else Decimal(1)
    tiers = bands(uptos, rates, scale)
    where = " year to date" if m.ytd else ""

    described: dict[int, str] = {}

    def describe(band: Band) -> str:
        key = id(band)
        if key not in described:
            described[key] = describe_band(band, of_quota=of_quota, currency=ctx.currency)
        return described[key]

    if comp.mode == "marginal":
        running = ZERO
        for credit in credits:
            start = ZERO if comp.scope == "transaction" else running
            end = EXACT_CONTEXT.add(start, credit.credited)
            running = EXACT_CONTEXT.add(running, credit.credited)
            slices = marginal_slices(start, end, tiers)
            amount = sum((s.pays for s in slices), ZERO)
            parts = [
                f"{fmt_pct(s.band.rate)} on {ctx.money(s.size)} {describe(s.band)}" for s in slices
            ]
            text = " + ".join(parts) if parts else f"nothing credited ({ctx.money(ZERO)})"
            rate = slices[0].band.rate if len(slices) == 1 else None
            out[(index, credit.transaction_id)] = _Exact(
                amount, credit.credited, rate, f"{text}{where} (marginal tiers)", _tx_order(credit)
            )
        return out
    total = sum((c.credited for c in credits), ZERO)
    for credit in credits:
        measure = credit.credited if comp.scope == "transaction" else total
        band = tiers[band_index(measure, tiers)]
        if of_quota:
            reached = f"{'year-to-date' if m.ytd else 'period'} attainment {fmt_attainment(EXACT_CONTEXT.divide(measure, scale))}"
        elif comp.scope == "transaction":
            reached = f"deal amount {ctx.money(measure)}"
        else:
            reached = f"{'year-to-date' if m.ytd else 'period'} credit {ctx.money(measure)}"
        out[(index, credit.transaction_id)] = _Exact(
            EXACT_CONTEXT.multiply(band.rate, credit.credited),
            credit.credited,
            band.rate,
            f"{fmt_pct(band.rate)} on {ctx.money(credit.credited)}: {reached} is in the tier "
            f"{describe(band)} (retroactive)",
            _tx_order(credit),
        )
    return out


def _evaluate_component(
    ctx: _Context, index: int, credits: list[Credit], m: _Measure
) -> dict[_Key, _Exact]:
    comp = ctx.plan.components[index]
    name = ctx.names[index]
    matching = [c for c in credits if _matches(comp, c)]
    out: dict[_Key, _Exact] = {}
    if isinstance(comp, PercentageComponent):
        for c in matching:
            out[(index, c.transaction_id)] = _Exact(
                EXACT_CONTEXT.multiply(comp.rate, c.credited),
                c.credited,
                comp.rate,
                f"{fmt_pct(comp.rate)} on {ctx.money(c.credited)} credited",
                _tx_order(c),
            )
    elif isinstance(comp, FixedPerDealComponent):
        for c in matching:
            out[(index, c.transaction_id)] = _Exact(
                EXACT_CONTEXT.multiply(comp.amount, c.share),
                c.credited,
                None,
                f"{ctx.money(comp.amount)} per deal × share {fmt_number(c.share)}",
                _tx_order(c),
            )
    elif isinstance(comp, FixedPerUnitComponent):
        for c in matching:
            units = c.quantity if c.quantity is not None else ZERO
            out[(index, c.transaction_id)] = _Exact(
                EXACT_CONTEXT.multiply(EXACT_CONTEXT.multiply(comp.amount, units), c.share),
                c.credited,
                None,
                f"{ctx.money(comp.amount)} per unit × {fmt_number(units)} units × share "
                f"{fmt_number(c.share)}",
                _tx_order(c),
            )
    elif isinstance(comp, RateTableComponent):
        for c in matching:
            value = c.fields.get(comp.key, "")
            rate = comp.rates.get(value, comp.default)
            if rate is None:
                continue
            how = "rate" if value in comp.rates else "default rate"
            out[(index, c.transaction_id)] = _Exact(
                EXACT_CONTEXT.multiply(rate, c.credited),
                c.credited,
                rate,
                f"{fmt_pct(rate)} ({how} for {comp.key} = {value or '(empty)'}) on "
                f"{ctx.money(c.credited)} credited",
                _tx_order(c),
            )
    elif isinstance(comp, TieredComponent):
        out = _evaluate_tiered(ctx, index, comp, matching, m)
    elif isinstance(comp, PayoutCurveComponent):
        quota = _need_quota(ctx, m, name)
        if quota is not None:
            total = sum((c.credited for c in matching), ZERO)
            attainment = EXACT_CONTEXT.divide(total, quota)
            fraction = curve_fraction(comp.points, attainment)
            target = EXACT_CONTEXT.multiply(comp.target_incentive, m.multiplier)
            out[(index, "")] = _Exact(
                curve_payout(comp.points, total, quota, target),
                total,
                None,
                f"payout curve at {'year-to-date ' if m.ytd else ''}attainment "
                f"{fmt_attainment(attainment)}: {fmt_number(fraction)} × target incentive "
                f"{ctx.money(target)}",
                (1,),
            )
    elif isinstance(comp, BonusComponent):
        out = _evaluate_bonus(ctx, index, comp, matching, m)
    elif isinstance(comp, OverrideComponent):
        pass  # paid to managers, see _override_lines
    return out


def _evaluate_bonus(
    ctx: _Context, index: int, comp: BonusComponent, matching: list[Credit], m: _Measure
) -> dict[_Key, _Exact]:
    total = sum((c.credited for c in matching), ZERO)
    reasons: list[str] = []
    when = comp.when
    if when.attainment_gte is not None:
        quota = _need_quota(ctx, m, ctx.names[index])
        if quota is None:
            return {}
        attainment = EXACT_CONTEXT.divide(total, quota)
        if attainment < when.attainment_gte:
            return {}
        reasons.append(
            f"attainment {fmt_attainment(attainment)} ≥ {fmt_attainment(when.attainment_gte)}"
        )
    if when.credited_gte is not None:
        threshold = EXACT_CONTEXT.multiply(when.credited_gte, m.multiplier)
        if total < threshold:
            return {}
        reasons.append(f"credited {ctx.money(total)} ≥ {ctx.money(threshold)}")
    if when.deals_gte is not None:
        deals = len({c.transaction_id for c in matching})
        needed = when.deals_gte * int(m.multiplier)
        if deals < needed:
            return {}
        reasons.append(f"{deals} deals ≥ {needed}")
    amount = EXACT_CONTEXT.multiply(comp.amount, m.multiplier)
    return {
        (index, ""): _Exact(
            amount,
            total,
            None,
            f"bonus {ctx.money(amount)}: {' and '.join(reasons)}"
            + (" (year to date)" if m.ytd else ""),
            (1,),
        )
    }


def _evaluate_all(ctx: _Context, credits: list[Credit], m: _Measure) -> dict[_Key, _Exact]:
    out: dict[_Key, _Exact] = {}
    for index in range(len(ctx.plan.components)):
        out.update(_evaluate_component(ctx, index, credits, m))
    return out


# -- overrides ------------------------------------------------------------------


def _override_exacts(
    ctx: _Context, credits: Iterable[Credit]
) -> dict[str, dict[_Key, tuple[Decimal, list[str], Credit]]]:
    """manager -> (component, transaction) -> (credited of their reports, reports, a credit)."""
    out: dict[str, dict[_Key, tuple[Decimal, list[str], Credit]]] = defaultdict(dict)
    for index, comp in enumerate(ctx.plan.components):
        if not isinstance(comp, OverrideComponent):
            continue
        for credit in credits:
            if not _matches(comp, credit):
                continue
            entry = ctx.roster.get(credit.rep_id)
            for _level in range(comp.levels):
                if entry is None or entry.manager_id is None:
                    break
                manager = entry.manager_id
                entry = ctx.roster.get(manager)
                if entry is not None and not entry.employed_on(credit.credit_date):
                    continue
                key = (index, credit.transaction_id)
                credited, reports, first = out[manager].get(key, (ZERO, [], credit))
                out[manager][key] = (credited + credit.credited, [*reports, credit.rep_id], first)
    return out


# -- the run --------------------------------------------------------------------


@dataclass
class _RepYear:
    """Cumulative settlement state of one rep in one fiscal year."""

    paid: dict[_Key, Decimal] = field(default_factory=dict)


def _line(ctx: _Context, rep: str, period: Period, key: _Key, ex: _Exact, amount: Decimal) -> Line:
    return Line(
        rep_id=rep,
        period=period,
        component=ctx.names[key[0]],
        transaction_id=key[1] or None,
        credited=ex.credited,
        rate=ex.rate,
        amount=amount,
        explanation=ex.explanation,
        order=(PHASE_COMPONENT, key[0], *ex.order),
    )


def _all_periods(
    ctx: _Context, credits: Sequence[Credit], clawback_days: int | None
) -> list[Period]:
    found: dict[str, Period] = {}
    for c in credits:
        p = ctx.period_of(c.credit_date)
        found[p.key] = p
        if (
            clawback_days is not None
            and c.cancel_date is not None
            and (c.cancel_date - c.credit_date).days <= clawback_days
        ):
            q = ctx.period_of(c.cancel_date)
            found[q.key] = q
    for _rep, key in ctx.quotas:
        try:
            quota_period = ctx.calendar.parse(key)
        except InvalidPeriodError:
            continue
        p = ctx.period_of(quota_period.start)
        if p.key == key or (quota_period.end <= p.end):
            found[p.key] = p
    return sorted(found.values())


def _build_context(
    plan: Plan,
    calendar: Calendar,
    roster: dict[str, RosterEntry],
    quotas: dict[tuple[str, str], Decimal],
) -> _Context:
    return _Context(
        plan=plan,
        currency=get_currency(plan.currency),
        rounding=RoundingMode(plan.rounding),
        calendar=calendar,
        kind=PeriodKind(plan.period),
        roster=roster,
        quotas=quotas,
        names=plan.component_names,
    )


def _filter_columns(plan: Plan) -> frozenset[str]:
    columns: set[str] = set()
    for comp in plan.components:
        if comp.filter:
            columns.update(comp.filter)
        if isinstance(comp, RateTableComponent):
            columns.add(comp.key)
    return frozenset(columns)


def _run(ctx: _Context, credits: list[Credit]) -> tuple[list[Line], list[Period]]:
    plan = ctx.plan
    cumulative = plan.settlement == "cumulative"
    clawback_days = plan.clawback.window_days if plan.clawback else None
    periods = _all_periods(ctx, credits, clawback_days)

    counted = sorted((c for c in credits if _credit_counts(ctx, c)), key=lambda c: c.order_key)
    by_rep_period: dict[tuple[str, str], list[Credit]] = defaultdict(list)
    for c in counted:
        by_rep_period[(c.rep_id, ctx.period_of(c.credit_date).key)].append(c)
    reps_with_credit = sorted({c.rep_id for c in counted})
    quota_reps = sorted({rep for rep, _ in ctx.quotas})
    cancels: dict[str, list[Credit]] = defaultdict(list)
    if clawback_days is not None:
        for c in credits:
            if c.cancel_date is not None and (c.cancel_date - c.credit_date).days <= clawback_days:
                cancels[ctx.period_of(c.cancel_date).key].append(c)

    lines: list[Line] = []
    paid_by_tx: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    credited_by_tx: dict[tuple[str, str], Decimal] = {}
    clawed: set[tuple[str, str]] = set()
    years: dict[tuple[str, int], _RepYear] = defaultdict(_RepYear)
    draw_balance: dict[str, Decimal] = defaultdict(lambda: ZERO)

    for period in periods:
        fiscal_year = ctx.calendar.fiscal_year_of(period.start)
        elapsed = _periods_elapsed(ctx, period)
        period_lines: dict[str, list[Line]] = defaultdict(list)
        candidates = sorted(
            set(reps_with_credit if cumulative else [])
            | {rep for rep, pk in by_rep_period if pk == period.key}
            | {rep for rep in quota_reps if _quota_for(ctx, rep, period) is not None}
        )
        for rep in candidates:
            if not _eligible_in(ctx, rep, period):
                continue
            if cumulative:
                window = [c for p in elapsed for c in by_rep_period.get((rep, p.key), [])]
                quotas = [_quota_for(ctx, rep, p) for p in elapsed]
                ytd_quota = (
                    None
                    if any(q is None for q in quotas)
                    else sum((q for q in quotas if q is not None), ZERO)
                )
                label = period.key if len(elapsed) == 1 else f"{elapsed[0].key}..{period.key}"
                measure = _Measure(rep, label, ytd_quota, Decimal(len(elapsed)), len(elapsed) > 1)
                if not window and ytd_quota is None:
                    continue
                exacts = _evaluate_all(ctx, window, measure)
                state = years[(rep, fiscal_year)]
                for key in sorted(set(exacts) | set(state.paid), key=lambda k: (k[0], k[1])):
                    if key[1] and (rep, key[1]) in clawed:
                        continue
                    before = state.paid.get(key)
                    ex = exacts.get(key)
                    target = ctx.round(ex.amount) if ex is not None else ZERO
                    delta = target - (before or ZERO)
                    if before is not None and delta == 0:
                        continue
                    if ex is None:
                        ex = _Exact(ZERO, None, None, "no longer earned year to date", (1,))
                    if before is not None:
                        ex = _Exact(
                            ex.amount,
                            ex.credited,
                            ex.rate,
                            f"true-up: year to date {ctx.money(target)} minus "
                            f"{ctx.money(before)} paid earlier; {ex.explanation}",
                            ex.order,
                        )
                    state.paid[key] = target
                    period_lines[rep].append(_line(ctx, rep, period, key, ex, delta))
            else:
                own = by_rep_period.get((rep, period.key), [])
                measure = _Measure(
                    rep, period.key, _quota_for(ctx, rep, period), Decimal(1), ytd=False
                )
                for key, ex in sorted(_evaluate_all(ctx, own, measure).items()):
                    period_lines[rep].append(_line(ctx, rep, period, key, ex, ctx.round(ex.amount)))

        # Overrides are linear in credit, so they settle per period in both modes.
        period_credits = [
            c for (_rep, pk), cs in by_rep_period.items() if pk == period.key for c in cs
        ]
        for manager, items in sorted(_override_exacts(ctx, period_credits).items()):
            for key, (credited, reports, first) in sorted(items.items()):
                comp = ctx.plan.components[key[0]]
                assert isinstance(comp, OverrideComponent)
                exact = _Exact(
                    EXACT_CONTEXT.multiply(comp.rate, credited),
                    credited,
                    comp.rate,
                    f"{fmt_pct(comp.rate)} override on {ctx.money(credited)} credited to "
                    f"{', '.join(sorted(set(reports)))}",
                    _tx_order(first),
                )
                amount = ctx.round(exact.amount)
                period_lines[manager].append(_line(ctx, manager, period, key, exact, amount))

        recipients = set(period_lines) | _clawback_recipients(cancels[period.key], paid_by_tx)
        if plan.draw is not None:  # a rep with a statement but no lines still gets the draw
            recipients |= {r for r in quota_reps if _quota_for(ctx, r, period) is not None}
        for rep in sorted(recipients):
            own_lines = sorted(period_lines.get(rep, []), key=Line.sort_key)
            for ln in own_lines:
                if ln.transaction_id:
                    tx_key = (rep, ln.transaction_id)
                    paid_by_tx[tx_key] += ln.amount
                    credited_by_tx.setdefault(tx_key, ln.credited or ZERO)
            lines.extend(own_lines)
            eligible = _eligible_in(ctx, rep, period)
            total = sum((ln.amount for ln in own_lines), ZERO)
            total += _cap_line(ctx, rep, period, total, lines, cumulative)
            if eligible and plan.draw is not None:
                _draw_lines(ctx, rep, period, total, draw_balance, lines)
            if eligible:
                _clawback_lines(
                    ctx, rep, period, cancels[period.key], paid_by_tx, credited_by_tx, clawed, lines
                )
    return sorted(lines, key=Line.sort_key), periods


def _clawback_recipients(
    cancelled: list[Credit], paid_by_tx: dict[tuple[str, str], Decimal]
) -> set[str]:
    txs = {c.transaction_id for c in cancelled}
    return {rep for rep, tx in paid_by_tx if tx in txs}


def _cap_ceiling(ctx: _Context, cap_amount: Decimal) -> Decimal:
    """The largest payout in the currency's minor unit that does not exceed the cap.

    Rounded down whatever the plan's rounding: a cap of 500.005 USD allows 500.00, never
    500.01 (docs: Cap, Decision).
    """
    return cap_amount.quantize(ctx.currency.quantum, rounding=ROUND_FLOOR, context=EXACT_CONTEXT)


def _cap_line(
    ctx: _Context,
    rep: str,
    period: Period,
    total: Decimal,
    lines: list[Line],
    cumulative: bool,
) -> Decimal:
    """The contract's cap: when the period's (rounded) component lines sum above
    `cap.amount`, one negative line brings the period down to the cap.

    In cumulative plans `total` is the period's settled true-up lines, so the cap is per
    period there too and a cap line is never positive (docs: Cap, Decision).
    """
    cap = ctx.plan.cap
    if cap is None or total <= cap.amount:
        return ZERO
    ceiling = _cap_ceiling(ctx, cap.amount)
    adjustment = ceiling - total
    what = "settled components (year-to-date true-ups)" if cumulative else "components"
    text = (
        f"{what} {ctx.money(total)} capped at {ctx.money(ceiling)} per period; "
        f"adjusts by {ctx.money(adjustment)}"
    )
    lines.append(
        Line(rep, period, "cap_adjustment", None, None, None, adjustment, text, (PHASE_CAP,))
    )
    return adjustment


def _draw_lines(
    ctx: _Context,
    rep: str,
    period: Period,
    total: Decimal,
    balance: dict[str, Decimal],
    lines: list[Line],
) -> None:
    draw = ctx.plan.draw
    assert draw is not None
    if total < draw.amount:
        top_up = ctx.round(draw.amount - total)
        kind = "recoverable" if draw.recoverable else "non-recoverable"
        if draw.recoverable:
            balance[rep] += top_up
        lines.append(
            Line(
                rep,
                period,
                "draw",
                None,
                None,
                None,
                top_up,
                f"{kind} draw tops {ctx.money(total)} up to {ctx.money(draw.amount)}"
                + (f"; balance to recover {ctx.money(balance[rep])}" if draw.recoverable else ""),
                (PHASE_DRAW,),
            )
        )
    elif draw.recoverable and balance[rep] > 0 and total > draw.amount:
        recovered = min(balance[rep], total - draw.amount)
        balance[rep] -= recovered
        lines.append(
            Line(
                rep,
                period,
                "draw_recovery",
                None,
                None,
                None,
                -recovered,
                f"recovers {ctx.money(recovered)} of earlier draws from earnings above "
                f"{ctx.money(draw.amount)}; balance left {ctx.money(balance[rep])}",
                (PHASE_RECOVERY,),
            )
        )


def _clawback_lines(
    ctx: _Context,
    rep: str,
    period: Period,
    cancelled: list[Credit],
    paid_by_tx: dict[tuple[str, str], Decimal],
    credited_by_tx: dict[tuple[str, str], Decimal],
    clawed: set[tuple[str, str]],
    lines: list[Line],
) -> None:
    seen: set[str] = set()
    for credit in sorted(cancelled, key=lambda c: c.order_key):
        tx = credit.transaction_id
        key = (rep, tx)
        if tx in seen or key in clawed or key not in paid_by_tx:
            continue
        seen.add(tx)
        clawed.add(key)
        paid = paid_by_tx[key]
        amount = -paid if paid != 0 else ZERO.quantize(ctx.currency.quantum)
        lines.append(
            Line(
                rep,
                period,
                "clawback",
                tx,
                credited_by_tx.get(key),
                None,
                amount,
                f"transaction {tx} cancelled on {credit.cancel_date} "
                f"({(credit.cancel_date - credit.credit_date).days if credit.cancel_date else 0} "
                f"days after its credit date, window {ctx.plan.clawback.window_days if ctx.plan.clawback else 0}): "
                f"reverses the {ctx.money(paid)} it paid",
                (PHASE_CLAWBACK, credit.credit_date, tx),
            )
        )
        paid_by_tx[key] = ZERO


# -- public API -------------------------------------------------------------------


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _statements(
    ctx: _Context, lines: list[Line], periods: list[Period], counted: list[Credit]
) -> list[dict[str, Any]]:
    credited: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for c in counted:
        credited[(c.rep_id, ctx.period_of(c.credit_date).key)] += c.credited
    gross: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    adjustments: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    keys: dict[tuple[str, str], Period] = {}
    for ln in lines:
        k = (ln.rep_id, ln.period.key)
        keys[k] = ln.period
        if ln.order[0] == PHASE_COMPONENT:
            gross[k] += ln.amount
        else:
            adjustments[k] += ln.amount
    quota_reps = sorted({rep for rep, _ in ctx.quotas})
    for period in periods:
        for rep in quota_reps:
            if _quota_for(ctx, rep, period) is not None:
                keys[(rep, period.key)] = period
    zero = ZERO.quantize(ctx.currency.quantum)
    rows = []
    for (rep, pkey), period in sorted(keys.items(), key=lambda kv: (kv[1].start, kv[0][0])):
        quota = _quota_for(ctx, rep, period)
        eligible = _eligible_in(ctx, rep, period)
        credit = credited[(rep, pkey)] if eligible else ZERO
        attainment = (
            EXACT_CONTEXT.divide(credit, quota).quantize(ATTAINMENT_DECIMALS)
            if quota not in (None, ZERO) and quota is not None
            else None
        )
        g = gross.get((rep, pkey), zero) + zero
        a = adjustments.get((rep, pkey), zero) + zero
        rows.append(
            {
                "rep_id": rep,
                "period": pkey,
                "credited": credit,
                "quota": quota,
                "attainment": attainment,
                "gross": g,
                "adjustments": a,
                "payout": g + a,
                "currency": ctx.plan.currency,
            }
        )
    return rows


def calculate_commissions(
    plan: Plan | dict[str, Any] | str,
    transactions: TableSource,
    quotas: TableSource | None = None,
    roster: TableSource | None = None,
    fx: TableSource | None = None,
    periods: Sequence[str] | None = None,
    *,
    calendar: Calendar = DEFAULT_CALENDAR,
) -> CommissionResult:
    """Compute payout lines and statements for a plan over the given tables.

    Tables are DataFrames or CSV/Parquet paths (read as text, amounts exact).
    `periods` restricts the output to those plan-period keys; the engine still
    computes every period the data touches (year-to-date true-ups, recoverable
    draws and clawbacks depend on earlier periods). Raises PlanValidationError or
    CommissionInputError naming the key, table, row, column, transaction or rep
    at fault.
    """
    started = time.perf_counter()
    plan = load_plan(plan)
    tables = {"transactions": read_table(transactions, "transactions")}
    for name, source in (("quotas", quotas), ("roster", roster), ("fx", fx)):
        if source is not None:
            tables[name] = read_table(source, name)
    read_done = time.perf_counter()

    result = calculate_from_tables(plan, tables, periods, calendar=calendar)
    finished = time.perf_counter()
    result.manifest["timings"] = {
        "read_seconds": round(read_done - started, 6),
        "calculate_seconds": round(finished - read_done, 6),
        "total_seconds": round(finished - started, 6),
    }
    return result


def calculate_from_tables(
    plan: Plan,
    tables: dict[str, TextTable],
    periods: Sequence[str] | None = None,
    *,
    calendar: Calendar = DEFAULT_CALENDAR,
) -> CommissionResult:
    """The engine on already-read text tables (see calculate_commissions)."""
    kind = PeriodKind(plan.period)
    wanted: set[str] | None = None
    if periods:
        wanted = set()
        for key in periods:
            try:
                parsed = calendar.parse(key)
            except InvalidPeriodError as exc:
                raise CommissionInputError([f"--period {key!r}: {exc}"]) from None
            if parsed.kind != kind:
                raise CommissionInputError(
                    [f"--period {key!r}: the plan is {plan.period}; give {kind.value} keys"]
                )
            wanted.add(key)
    if plan.eligibility and plan.eligibility.roles and "roster" not in tables:
        raise CommissionInputError(
            ["roster: the plan's eligibility names roles, so a roster table is required"]
        )
    if any(isinstance(c, OverrideComponent) for c in plan.components) and "roster" not in tables:
        raise CommissionInputError(
            ["roster: the plan has an override component, so a roster (manager_id) is required"]
        )
    fx = parse_fx(tables.get("fx"))
    roster = parse_roster(tables.get("roster"))
    quotas = parse_quotas(tables.get("quotas"), calendar, plan.credit_basis, plan.currency)
    rules = TransactionRules(
        plan_currency=plan.currency,
        credit_basis=plan.credit_basis,
        needs_quantity=any(isinstance(c, FixedPerUnitComponent) for c in plan.components),
        filter_columns=_filter_columns(plan),
    )
    credits = parse_transactions(tables["transactions"], fx, rules)
    ctx = _build_context(plan, calendar, roster, quotas)
    lines, all_periods = _run(ctx, credits)
    if ctx.problems:
        raise CommissionInputError(sorted(set(ctx.problems)))
    counted = [c for c in credits if _credit_counts(ctx, c)]
    statements = _statements(ctx, lines, all_periods, counted)
    if wanted is not None:
        lines = [ln for ln in lines if ln.period.key in wanted]
        statements = [s for s in statements if s["period"] in wanted]
    lines_frame = pd.DataFrame(
        [
            {
                "rep_id": ln.rep_id,
                "period": ln.period.key,
                "component": ln.component,
                "transaction_id": ln.transaction_id,
                "credited_amount": ln.credited,
                "rate": ln.rate,
                "amount": ln.amount,
                "currency": plan.currency,
                "explanation": ln.explanation,
            }
            for ln in lines
        ],
        columns=list(LINE_COLUMNS),
        dtype=object,
    )
    statements_frame = pd.DataFrame(statements, columns=list(STATEMENT_COLUMNS), dtype=object)
    manifest: dict[str, Any] = {
        "engine_version": ENGINE_VERSION,
        "plan": {"id": plan.plan, "sha256": plan.content_hash()},
        "inputs": {
            name: {"sha256": table.sha256, "rows": table.rows}
            for name, table in sorted(tables.items())
        },
        "periods": sorted(wanted) if wanted is not None else [p.key for p in all_periods],
        "counts": {"lines": len(lines_frame), "statements": len(statements_frame)},
    }
    return CommissionResult(lines_frame, statements_frame, manifest, lines)
