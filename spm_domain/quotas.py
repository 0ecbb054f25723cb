"""Quota tracking: target vs achievement, variance, pace, status and milestones.

Pace is the elapsed fraction of the period (`Calendar.elapsed_fraction`, in
real seconds in the calendar's timezone). The expected achievement to date is
`target × elapsed` (a linear pace). Status rules, in order (all thresholds in
`StatusRules`, defaults in brackets):

1. target 0: ACHIEVED, or EXCEEDED if anything was achieved;
2. attainment = achieved / target ≥ `exceeded_at` [1.10]: EXCEEDED;
3. attainment ≥ `achieved_at` [1.00]: ACHIEVED;
4. the period has not begun (elapsed = 0), or nothing is achieved yet while
   elapsed < `not_started_grace` [0.10]: NOT_STARTED;
5. the period is over (elapsed = 1) and the target was not achieved: AT_RISK
   (the vocabulary has no "missed"; `period_closed` tells them apart);
6. pace ratio = attainment / elapsed ≥ `at_risk_below_pace` [0.90]: ON_TRACK;
7. otherwise AT_RISK.

Achievement counts a credit dated `d` once the as-of moment is past the start
(local midnight) of `d`, so the days counted match the elapsed fraction.
Milestones are interim goals "`required_fraction` of the target by the end
of `due`": MET once reached (even early), MISSED if the due day has ended
without it, PENDING otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator

from spm_domain.errors import DomainError
from spm_domain.money import EXACT_CONTEXT
from spm_domain.periods import Calendar, Period, PeriodKind
from spm_domain.targets.measures import Measure


class QuotaError(DomainError):
    """Quota or achievement input that cannot be evaluated (names the row or id)."""


class QuotaStatus(StrEnum):
    NOT_STARTED = "Not Started"
    ON_TRACK = "On Track"
    AT_RISK = "At Risk"
    ACHIEVED = "Achieved"
    EXCEEDED = "Exceeded"


class StatusRules(BaseModel):
    """Configurable thresholds of the status rules (fractions, as Decimals)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at_risk_below_pace: Decimal = Decimal("0.90")
    achieved_at: Decimal = Decimal("1.00")
    exceeded_at: Decimal = Decimal("1.10")
    not_started_grace: Decimal = Decimal("0.10")

    @model_validator(mode="after")
    def _consistent(self) -> StatusRules:
        if not Decimal(0) < self.at_risk_below_pace <= Decimal(1):
            raise ValueError("at_risk_below_pace must be in (0, 1]")
        if not Decimal(0) < self.achieved_at <= self.exceeded_at:
            raise ValueError("need 0 < achieved_at <= exceeded_at")
        if not Decimal(0) <= self.not_started_grace < Decimal(1):
            raise ValueError("not_started_grace must be in [0, 1)")
        return self


DEFAULT_RULES = StatusRules()


class MilestoneState(StrEnum):
    PENDING = "pending"
    MET = "met"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class Milestone:
    """An interim goal: `required_fraction` of the target by the end of `due`."""

    name: str
    due: date
    required_fraction: Decimal


@dataclass(frozen=True, slots=True)
class MilestoneProgress:
    milestone: Milestone
    required: Decimal
    achieved_by_due: Decimal
    state: MilestoneState


@dataclass(frozen=True, slots=True)
class DatedValue:
    """One credit of a measure on a day (revenue, margin, units or a new customer)."""

    day: date
    value: Decimal


@dataclass(frozen=True, slots=True)
class QuotaProgress:
    rep_id: str
    period: str
    measure: Measure
    currency: str | None
    target: Decimal
    achieved: Decimal
    variance: Decimal  # achieved - target (negative: still short)
    variance_pct: Decimal | None  # variance / target; None for a zero target
    attainment: Decimal | None
    elapsed: Decimal
    expected_to_date: Decimal
    pace_ratio: Decimal | None  # attainment / elapsed; None before the period starts
    status: QuotaStatus
    period_closed: bool
    milestones: tuple[MilestoneProgress, ...]


def _div(a: Decimal, b: Decimal) -> Decimal:
    return EXACT_CONTEXT.divide(a, b)


def elapsed_as_decimal(calendar: Calendar, period: Period, as_of: datetime) -> Decimal:
    """`Calendar.elapsed_fraction` as a Decimal (shortest float repr: 0.5 stays 0.5)."""
    return Decimal(repr(calendar.elapsed_fraction(period, as_of)))


def classify_status(
    target: Decimal, achieved: Decimal, elapsed: Decimal, rules: StatusRules = DEFAULT_RULES
) -> QuotaStatus:
    """The status for a target, achievement to date and elapsed fraction in [0, 1]."""
    if target < 0:
        raise QuotaError(f"target {target} is negative")
    if not Decimal(0) <= elapsed <= Decimal(1):
        raise QuotaError(f"elapsed fraction {elapsed} is outside [0, 1]")
    if target == 0:
        return QuotaStatus.EXCEEDED if achieved > 0 else QuotaStatus.ACHIEVED
    attainment = _div(achieved, target)
    if attainment >= rules.exceeded_at:
        return QuotaStatus.EXCEEDED
    if attainment >= rules.achieved_at:
        return QuotaStatus.ACHIEVED
    if elapsed == 0 or (achieved <= 0 and elapsed < rules.not_started_grace):
        return QuotaStatus.NOT_STARTED
    if elapsed == 1:
        return QuotaStatus.AT_RISK
    pace_ratio = _div(attainment, elapsed)
    return QuotaStatus.ON_TRACK if pace_ratio >= rules.at_risk_below_pace else QuotaStatus.AT_RISK


def _counts_by(day: date, moment: datetime, calendar: Calendar) -> bool:
    """A credit on `day` counts once `moment` is past the day's local midnight."""
    return datetime.combine(day, time(0), tzinfo=calendar.tz) < moment


def achieved_between(
    credits: Iterable[DatedValue], period: Period, until: datetime, calendar: Calendar
) -> Decimal:
    """Sum of the period's credits that count by the moment `until`."""
    total = Decimal(0)
    for credit in credits:
        if period.contains(credit.day) and _counts_by(credit.day, until, calendar):
            total = EXACT_CONTEXT.add(total, credit.value)
    return total


def default_milestones(period: Period, calendar: Calendar) -> tuple[Milestone, ...]:
    """Linear interim goals: month ends of a quarter (1/3, 2/3), quarter ends of
    a year (1/4, 1/2, 3/4), mid-month (1/2) of a month, halfway of a custom
    period. The period end itself is the target, not a milestone."""
    if period.kind is PeriodKind.QUARTER:
        ends = [
            m.last_day for m in calendar.periods_between(period.start, period.last_day, "monthly")
        ]
    elif period.kind is PeriodKind.YEAR:
        ends = [
            q.last_day for q in calendar.periods_between(period.start, period.last_day, "quarterly")
        ]
    else:
        if period.days < 2:
            return ()
        halfway = period.start + timedelta(days=period.days // 2 - 1)
        return (Milestone("1/2 by " + halfway.isoformat(), halfway, Decimal("0.5")),)
    parts = len(ends)
    return tuple(
        Milestone(f"{i}/{parts} by {due.isoformat()}", due, _div(Decimal(i), Decimal(parts)))
        for i, due in enumerate(ends[:-1], start=1)
    )


def track_milestones(
    target: Decimal,
    credits: Sequence[DatedValue],
    period: Period,
    as_of: datetime,
    calendar: Calendar,
    milestones: Sequence[Milestone],
) -> tuple[MilestoneProgress, ...]:
    out: list[MilestoneProgress] = []
    for milestone in milestones:
        if not period.contains(milestone.due):
            raise QuotaError(
                f"milestone {milestone.name!r} is due {milestone.due}, outside period {period.key}"
            )
        required = EXACT_CONTEXT.multiply(target, milestone.required_fraction)
        due_end = datetime.combine(milestone.due + timedelta(days=1), time(0), tzinfo=calendar.tz)
        by_due = achieved_between(credits, period, min(due_end, as_of), calendar)
        if by_due >= required:
            state = MilestoneState.MET
        elif as_of >= due_end:
            state = MilestoneState.MISSED
        else:
            state = MilestoneState.PENDING
        out.append(MilestoneProgress(milestone, required, by_due, state))
    return tuple(out)


def evaluate_quota(
    *,
    rep_id: str,
    measure: Measure,
    currency: str | None,
    target: Decimal,
    credits: Sequence[DatedValue],
    period: Period,
    as_of: datetime,
    calendar: Calendar,
    rules: StatusRules = DEFAULT_RULES,
    milestones: Sequence[Milestone] | None = None,
) -> QuotaProgress:
    """Progress of one rep's quota at the moment `as_of`."""
    elapsed = elapsed_as_decimal(calendar, period, as_of)
    achieved = achieved_between(credits, period, as_of, calendar)
    variance = EXACT_CONTEXT.subtract(achieved, target)
    attainment = _div(achieved, target) if target != 0 else None
    chosen = default_milestones(period, calendar) if milestones is None else milestones
    return QuotaProgress(
        rep_id=rep_id,
        period=period.key,
        measure=measure,
        currency=currency,
        target=target,
        achieved=achieved,
        variance=variance,
        variance_pct=_div(variance, target) if target != 0 else None,
        attainment=attainment,
        elapsed=elapsed,
        expected_to_date=EXACT_CONTEXT.multiply(target, elapsed),
        pace_ratio=_div(attainment, elapsed) if attainment is not None and elapsed > 0 else None,
        status=classify_status(target, achieved, elapsed, rules),
        period_closed=elapsed == 1,
        milestones=track_milestones(target, credits, period, as_of, calendar, chosen),
    )


@dataclass(frozen=True, slots=True)
class CreditRecord:
    """The fields of a canonical `transactions` row that count toward quotas."""

    transaction_id: str
    rep_id: str
    credit_date: date
    share: Decimal
    currency: str
    amount: Decimal
    margin: Decimal | None = None
    quantity: Decimal | None = None
    account_id: str | None = None
    cancel_date: date | None = None


def credits_by_rep(
    records: Sequence[CreditRecord],
    measure: Measure,
    *,
    currency: str | None = None,
    cancelled_by: date | None = None,
    rep_ids: Iterable[str] | None = None,
    fx: Mapping[tuple[str, str, str], Decimal] | None = None,
    between: tuple[date, date] | None = None,
) -> dict[str, list[DatedValue]]:
    """Each rep's dated credits of `measure` (value × split share).

    - revenue: amount × share; margin: margin × share; units: quantity × share;
    - new_customers: 1 for every rep credited on an account's FIRST transaction
      (earliest credit_date over all reps; ties on that date all count);
    - a transaction cancelled on or before `cancelled_by` counts nothing;
    - `between` = (start, end exclusive) keeps only credits dated in that
      window; pass ALL transactions and a window (not pre-filtered rows) so
      "first transaction of an account" looks at the whole history;
    - money measures are expressed in `currency`: a transaction in another
      currency converts at the rate of its credit month from `fx` (keyed
      `(YYYY-MM, from, to)`; the inverse pair is used when only it exists);
      without a rate it is an error naming the transaction and month.
    """
    wanted = set(rep_ids) if rep_ids is not None else None
    live = [
        r
        for r in records
        if not (
            r.cancel_date is not None and cancelled_by is not None and r.cancel_date <= cancelled_by
        )
    ]
    first_day: dict[str, date] = {}
    if measure is Measure.NEW_CUSTOMERS:
        for r in live:
            if r.account_id and (
                r.account_id not in first_day or r.credit_date < first_day[r.account_id]
            ):
                first_day[r.account_id] = r.credit_date
    out: dict[str, list[DatedValue]] = {}
    counted_new: set[tuple[str, str]] = set()
    for r in live:
        if wanted is not None and r.rep_id not in wanted:
            continue
        if between is not None and not between[0] <= r.credit_date < between[1]:
            continue
        value = _measure_value(r, measure, currency, first_day, counted_new, fx)
        if value is not None:
            out.setdefault(r.rep_id, []).append(DatedValue(r.credit_date, value))
    return out


def _measure_value(
    r: CreditRecord,
    measure: Measure,
    currency: str | None,
    first_day: Mapping[str, date],
    counted_new: set[tuple[str, str]],
    fx: Mapping[tuple[str, str, str], Decimal] | None,
) -> Decimal | None:
    rate = Decimal(1)
    if measure.is_money and currency is not None and r.currency != currency:
        rate = _fx_rate(r, currency, fx)
    if measure is Measure.REVENUE:
        return EXACT_CONTEXT.multiply(EXACT_CONTEXT.multiply(r.amount, r.share), rate)
    if measure is Measure.MARGIN:
        if r.margin is None:
            return None
        return EXACT_CONTEXT.multiply(EXACT_CONTEXT.multiply(r.margin, r.share), rate)
    if measure is Measure.UNITS:
        return EXACT_CONTEXT.multiply(r.quantity, r.share) if r.quantity is not None else None
    account = r.account_id
    if not account or first_day.get(account) != r.credit_date or r.share <= 0:
        return None
    if (r.rep_id, account) in counted_new:
        return None
    counted_new.add((r.rep_id, account))
    return Decimal(1)


def _fx_rate(
    r: CreditRecord, currency: str, fx: Mapping[tuple[str, str, str], Decimal] | None
) -> Decimal:
    month = f"{r.credit_date.year:04d}-{r.credit_date.month:02d}"
    if fx:
        direct = fx.get((month, r.currency, currency))
        if direct is not None:
            return direct
        inverse = fx.get((month, currency, r.currency))
        if inverse is not None and inverse != 0:
            return EXACT_CONTEXT.divide(Decimal(1), inverse)
    raise QuotaError(
        f"transactions: transaction {r.transaction_id!r} of rep {r.rep_id!r} is in "
        f"{r.currency} but the target is in {currency}, and fx_rates has no "
        f"{r.currency}->{currency} rate for {month}"
    )


def roll_up_to_managers(
    credits: Mapping[str, Sequence[DatedValue]], manager_of: Mapping[str, str | None]
) -> dict[str, list[DatedValue]]:
    """Each rep's credits plus those of everyone below them in the management
    chain (`manager_of[rep] = manager`), so a manager's quota is measured on
    the team's results. A cycle in the chain is an error naming the reps."""
    out: dict[str, list[DatedValue]] = {rep: list(values) for rep, values in credits.items()}
    for rep, values in credits.items():
        seen = {rep}
        boss = manager_of.get(rep)
        while boss:
            if boss in seen:
                raise QuotaError(f"reps: management cycle through {sorted(seen)}")
            seen.add(boss)
            out.setdefault(boss, []).extend(values)
            boss = manager_of.get(boss)
    return out
