"""A plain Decimal reference implementation of the commission contract.

Written independently of `spm_domain.commissions.engine`, as straightforward
loops over plain dicts, following docs/commissions.md rule by rule. Tests use
it to check the engine on random plans and data (to the cent). It only needs
the default calendar (fiscal year = calendar year).
"""

from __future__ import annotations

import decimal
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from spm_domain.commissions.plan import Plan
from spm_domain.currency import get_currency

CTX = decimal.Context(prec=60)
ZERO = Decimal(0)


@dataclass
class RefTx:
    transaction_id: str
    rep_id: str
    amount: Decimal
    currency: str
    credit_date: date
    share: Decimal = Decimal(1)
    cancel_date: date | None = None
    quantity: Decimal | None = None
    margin: Decimal | None = None
    product: str = ""


@dataclass
class RefRep:
    manager_id: str | None = None
    role: str | None = None
    hire_date: date | None = None
    terminated_date: date | None = None


def period_key(day: date, kind: str) -> str:
    if kind == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    if kind == "quarterly":
        return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year:04d}"


def period_bounds(key: str) -> tuple[date, date]:
    """(first day, last day) of a period key."""
    year = int(key[:4])
    if len(key) == 4:
        return date(year, 1, 1), date(year, 12, 31)
    if key[5] == "Q":
        q = int(key[6])
        first = date(year, 3 * q - 2, 1)
        nxt = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
        return first, nxt - timedelta(days=1)
    month = int(key[5:7])
    first = date(year, month, 1)
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first, nxt - timedelta(days=1)


def year_periods_upto(key: str, kind: str) -> list[str]:
    year = int(key[:4])
    if kind == "yearly":
        return [key]
    if kind == "quarterly":
        return [f"{year:04d}-Q{q}" for q in range(1, int(key[6]) + 1)]
    return [f"{year:04d}-{m:02d}" for m in range(1, int(key[5:7]) + 1)]


class Reference:
    def __init__(
        self,
        plan: Plan,
        txs: list[RefTx],
        quotas: dict[tuple[str, str], Decimal],
        roster: dict[str, RefRep] | None,
        fx: dict[tuple[str, str, str], Decimal],
    ) -> None:
        self.plan = plan
        self.txs = txs
        self.quotas = quotas
        self.roster = roster or {}
        self.fx = fx
        self.names = plan.component_names
        self.currency = get_currency(plan.currency)
        self.mode = decimal.ROUND_HALF_UP if plan.rounding == "half_up" else decimal.ROUND_HALF_EVEN

    # -- helpers -------------------------------------------------------------
    def rnd(self, x: Decimal | Fraction) -> Decimal:
        if isinstance(x, Fraction):
            return self.rnd_fraction(x)
        return x.quantize(self.currency.quantum, rounding=self.mode, context=CTX) + 0

    def rnd_fraction(self, x: Fraction) -> Decimal:
        """Round an exact rational to the minor unit: half away from zero, or half to even."""
        units = abs(x) / Fraction(self.currency.quantum)
        whole = units.numerator // units.denominator
        rest = units - whole
        half = Fraction(1, 2)
        if rest > half or (rest == half and (self.mode == decimal.ROUND_HALF_UP or whole % 2)):
            whole += 1
        signed = -whole if x < 0 else whole
        return Decimal(signed) * self.currency.quantum + 0

    def eligible(self, rep: str, key: str) -> bool:
        first, last = period_bounds(key)
        rules = self.plan.eligibility
        info = self.roster.get(rep)
        if info is None:
            return rules is None or not rules.roles
        if info.hire_date and info.hire_date > last:
            return False
        if info.terminated_date and info.terminated_date < first:
            return False
        if rules is None:
            return True
        if rules.roles and info.role not in rules.roles:
            return False
        if rules.min_tenure_days and info.hire_date:
            return (last - info.hire_date).days >= rules.min_tenure_days
        return True

    def employed(self, rep: str, day: date) -> bool:
        info = self.roster.get(rep)
        if info is None:
            return True
        if info.hire_date and day < info.hire_date:
            return False
        return not (info.terminated_date and day > info.terminated_date)

    def credited(self, t: RefTx) -> Decimal:
        rate = Decimal(1)
        if t.currency != self.plan.currency:
            rate = self.fx[(t.credit_date.isoformat()[:7], t.currency, self.plan.currency)]
        if self.plan.credit_basis == "amount":
            return t.amount * t.share * rate
        if self.plan.credit_basis == "margin":
            assert t.margin is not None
            return t.margin * t.share * rate
        assert t.quantity is not None
        return t.quantity * t.share

    @staticmethod
    def matches(component: Any, t: RefTx) -> bool:
        if not component.filter:
            return True
        for column, wanted in component.filter.items():
            value = {"product": t.product, "credit_date": t.credit_date.isoformat()}[column]
            if isinstance(wanted, list):
                ok = value in wanted
            elif isinstance(wanted, str):
                ok = value == wanted
            else:
                ok = wanted.contains(date.fromisoformat(value))
            if not ok:
                return False
        return True

    # -- components ------------------------------------------------------------
    def evaluate(
        self, credits: list[tuple[RefTx, Decimal]], quota: Decimal | None, k: int
    ) -> dict[tuple[str, str], Decimal | Fraction]:
        out: dict[tuple[str, str], Decimal | Fraction] = {}
        for idx, c in enumerate(self.plan.components):
            name = self.names[idx]
            mine = [(t, cr) for t, cr in credits if self.matches(c, t)]
            if c.type == "percentage":
                for t, cr in mine:
                    out[(name, t.transaction_id)] = c.rate * cr
            elif c.type == "fixed_per_deal":
                for t, _cr in mine:
                    out[(name, t.transaction_id)] = c.amount * t.share
            elif c.type == "fixed_per_unit":
                for t, _cr in mine:
                    out[(name, t.transaction_id)] = c.amount * (t.quantity or 0) * t.share
            elif c.type == "rate_table":
                for t, cr in mine:
                    value = t.product
                    rate = c.rates.get(value, c.default)
                    if rate is not None:
                        out[(name, t.transaction_id)] = rate * cr
            elif c.type == "tiered":
                self.tiered(c, name, mine, quota, k, out)
            elif c.type == "payout_curve":
                assert quota
                total = sum((cr for _t, cr in mine), ZERO)
                a = Fraction(total) / Fraction(quota)
                out[(name, "")] = self.curve(c.points, a) * Fraction(c.target_incentive * k)
            elif c.type == "bonus":
                total = sum((cr for _t, cr in mine), ZERO)
                ok = True
                if c.when.attainment_gte is not None:
                    assert quota
                    ok = ok and CTX.divide(total, quota) >= c.when.attainment_gte
                if c.when.credited_gte is not None:
                    ok = ok and total >= c.when.credited_gte * k
                if c.when.deals_gte is not None:
                    ok = ok and len({t.transaction_id for t, _ in mine}) >= c.when.deals_gte * k
                if ok:
                    out[(name, "")] = c.amount * k
        return out

    @staticmethod
    def curve(points: list[tuple[Decimal, Decimal]], a: Fraction) -> Fraction:
        """Fraction of target incentive at attainment `a`, as an exact rational (attainment is
        a repeating decimal in general, so Decimal digits would be cut short)."""
        pts = [(Fraction(x), Fraction(f)) for x, f in points]
        if a < pts[0][0]:
            return Fraction(0)
        if a >= pts[-1][0]:
            return pts[-1][1]
        for (a0, f0), (a1, f1) in itertools.pairwise(pts):
            if a0 <= a < a1:
                return f0 + (a - a0) * (f1 - f0) / (a1 - a0)
        raise AssertionError("unreachable")

    def tiered(
        self,
        c: Any,
        name: str,
        mine: list[tuple[RefTx, Decimal]],
        quota: Decimal | None,
        k: int,
        out: dict[tuple[str, str], Decimal],
    ) -> None:
        if not mine:
            return
        if c.basis == "attainment":
            assert quota
            scale = quota
        else:
            scale = Decimal(k) if c.scope == "period" else Decimal(1)
        uppers = [None if t.upto is None else t.upto * scale for t in c.tiers]
        rates = [t.rate for t in c.tiers]

        def cumulative_pay(x: Decimal) -> Decimal:
            if x < 0:
                return rates[0] * x
            pay, lower = ZERO, ZERO
            for upper, rate in zip(uppers, rates, strict=True):
                top = x if upper is None else min(x, upper)
                if top > lower:
                    pay += (top - lower) * rate
                if upper is None or x <= upper:
                    break
                lower = upper
            return pay

        def rate_at(measure: Decimal) -> Decimal:
            for t, rate in zip(c.tiers, rates, strict=True):
                if t.upto is None:
                    return rate
                bound = t.upto if c.basis == "attainment" else t.upto * scale
                if measure < bound:
                    return rate
            return rates[-1]

        if c.mode == "marginal":
            running = ZERO
            for t, cr in mine:
                if c.scope == "transaction":
                    out[(name, t.transaction_id)] = cumulative_pay(cr)
                else:
                    out[(name, t.transaction_id)] = cumulative_pay(running + cr) - cumulative_pay(
                        running
                    )
                    running += cr
            return
        total = sum((cr for _t, cr in mine), ZERO)
        for t, cr in mine:
            if c.scope == "transaction":
                measure = cr
            elif c.basis == "attainment":
                measure = CTX.divide(total, scale)
            else:
                measure = total
            out[(name, t.transaction_id)] = rate_at(measure) * cr

    # -- the run -----------------------------------------------------------------
    def run(
        self,
    ) -> tuple[dict[tuple[str, str, str, str], Decimal], dict[tuple[str, str], Decimal]]:
        kind = self.plan.period
        cumulative = self.plan.settlement == "cumulative"
        window = self.plan.clawback.window_days if self.plan.clawback else None
        periods: set[str] = set()
        for t in self.txs:
            periods.add(period_key(t.credit_date, kind))
            if (
                window is not None
                and t.cancel_date
                and (t.cancel_date - t.credit_date).days <= window
            ):
                periods.add(period_key(t.cancel_date, kind))
        periods |= {p for _r, p in self.quotas}
        ordered = sorted(periods, key=lambda key: period_bounds(key)[0])
        counted = [
            (t, self.credited(t))
            for t in sorted(self.txs, key=lambda t: (t.credit_date, t.transaction_id))
            if self.employed(t.rep_id, t.credit_date)
            and self.eligible(t.rep_id, period_key(t.credit_date, kind))
        ]
        reps = sorted({t.rep_id for t, _ in counted} | {r for r, _ in self.quotas})
        by_rep: dict[str, list[tuple[RefTx, Decimal]]] = {}
        by_period: dict[str, list[tuple[RefTx, Decimal]]] = {}
        for t, cr in counted:
            by_rep.setdefault(t.rep_id, []).append((t, cr))
            by_period.setdefault(period_key(t.credit_date, kind), []).append((t, cr))
        lines: dict[tuple[str, str, str, str], Decimal] = {}
        payouts: dict[tuple[str, str], Decimal] = {}
        paid_tx: dict[tuple[str, str], Decimal] = {}
        clawed: set[tuple[str, str]] = set()
        balance: dict[str, Decimal] = {}

        def add(rep: str, p: str, name: str, tx: str, amount: Decimal) -> None:
            lines[(rep, p, name, tx)] = lines.get((rep, p, name, tx), ZERO) + amount

        for p in ordered:
            year = int(p[:4])
            upto = year_periods_upto(p, kind)
            comp_lines: dict[str, list[tuple[str, str, Decimal]]] = {}
            for rep in reps:
                if not self.eligible(rep, p):
                    continue
                if cumulative:
                    own = [
                        (t, cr)
                        for t, cr in by_rep.get(rep, [])
                        if period_key(t.credit_date, kind) in upto
                    ]
                    qs = [self.quotas.get((rep, q)) for q in upto]
                    quota = None if None in qs else sum((q for q in qs if q is not None), ZERO)
                    if not own and quota is None:
                        continue
                    values = self.evaluate(own, quota, len(upto))
                    keys = set(values) | {
                        (n, tx) for (r, n, tx, y) in self._paid if r == rep and y == year
                    }
                    for name, tx in sorted(keys):
                        if tx and (rep, tx) in clawed:
                            continue
                        target = self.rnd(values[(name, tx)]) if (name, tx) in values else ZERO
                        before = self._paid.get((rep, name, tx, year), ZERO)
                        delta = target - before
                        self._paid[(rep, name, tx, year)] = target
                        comp_lines.setdefault(rep, []).append((name, tx, delta))
                else:
                    own = [
                        (t, cr)
                        for t, cr in by_rep.get(rep, [])
                        if period_key(t.credit_date, kind) == p
                    ]
                    quota = self.quotas.get((rep, p))
                    if not own and quota is None:
                        continue
                    for (name, tx), value in self.evaluate(own, quota, 1).items():
                        comp_lines.setdefault(rep, []).append((name, tx, self.rnd(value)))
            for idx, c in enumerate(self.plan.components):
                if c.type != "override":
                    continue
                for t, cr in by_period.get(p, []):
                    if not self.matches(c, t):
                        continue
                    rep = t.rep_id
                    for _level in range(c.levels):
                        info = self.roster.get(rep)
                        if info is None or info.manager_id is None:
                            break
                        rep = info.manager_id
                        if not self.employed(rep, t.credit_date):
                            continue
                        comp_lines.setdefault(rep, []).append(
                            (self.names[idx], t.transaction_id, c.rate * cr)
                        )
            # Overrides: one rounded line per manager and transaction.
            for rep, items in list(comp_lines.items()):
                merged: dict[tuple[str, str], Decimal] = {}
                for name, tx, amount in items:
                    if self.plan.components[self.names.index(name)].type == "override":
                        merged[(name, tx)] = merged.get((name, tx), ZERO) + amount
                rest = [
                    i
                    for i in items
                    if self.plan.components[self.names.index(i[0])].type != "override"
                ]
                comp_lines[rep] = rest + [(n, tx, self.rnd(v)) for (n, tx), v in merged.items()]
            cancelled = [
                t
                for t in self.txs
                if window is not None
                and t.cancel_date
                and (t.cancel_date - t.credit_date).days <= window
                and period_key(t.cancel_date, kind) == p
            ]
            recipients = set(comp_lines) | {
                r for (r, tx) in paid_tx if tx in {t.transaction_id for t in cancelled}
            }
            if self.plan.draw is not None:
                recipients |= {r for r, q in self.quotas if q == p}
            for rep in sorted(recipients):
                total = ZERO
                for name, tx, amount in comp_lines.get(rep, []):
                    add(rep, p, name, tx, amount)
                    total += amount
                    if tx:
                        paid_tx[(rep, tx)] = paid_tx.get((rep, tx), ZERO) + amount
                # Cap: per period in both settlements, on the sum of this period's rounded
                # component lines (in cumulative plans: the true-up deltas just paid). The
                # statement is cut to the largest whole minor unit not above the cap.
                cap = self.plan.cap
                if cap is not None and total > cap.amount:
                    units = (cap.amount / self.currency.quantum).to_integral_value(
                        rounding=decimal.ROUND_FLOOR, context=CTX
                    )
                    ceiling = units * self.currency.quantum
                    add(rep, p, "cap_adjustment", "", ceiling - total)
                    total = ceiling
                ok = self.eligible(rep, p)
                draw = self.plan.draw
                if ok and draw is not None:
                    owed = balance.get(rep, ZERO)
                    if total < draw.amount:
                        top = self.rnd(draw.amount - total)
                        add(rep, p, "draw", "", top)
                        if draw.recoverable:
                            balance[rep] = owed + top
                    elif draw.recoverable and owed > 0 and total > draw.amount:
                        back = min(owed, total - draw.amount)
                        add(rep, p, "draw_recovery", "", -back)
                        balance[rep] = owed - back
                if ok:
                    done: set[str] = set()
                    for t in sorted(cancelled, key=lambda t: (t.credit_date, t.transaction_id)):
                        key = (rep, t.transaction_id)
                        if t.transaction_id in done or key in clawed or key not in paid_tx:
                            continue
                        done.add(t.transaction_id)
                        clawed.add(key)
                        add(rep, p, "clawback", t.transaction_id, -paid_tx[key])
                        paid_tx[key] = ZERO
        for (rep, p, _n, _tx), amount in lines.items():
            payouts[(rep, p)] = payouts.get((rep, p), ZERO) + amount
        return lines, payouts

    # year-to-date paid amounts per (rep, name, tx, year)
    _paid: dict[tuple[str, str, str, int], Decimal]


def reference_run(
    plan: Plan,
    txs: list[RefTx],
    quotas: dict[tuple[str, str], Decimal],
    roster: dict[str, RefRep] | None,
    fx: dict[tuple[str, str, str], Decimal],
) -> tuple[dict[tuple[str, str, str, str], Decimal], dict[tuple[str, str], Decimal]]:
    ref = Reference(plan, txs, quotas, roster, fx)
    ref._paid = {}
    return ref.run()
