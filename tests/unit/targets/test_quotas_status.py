from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from spm_domain.periods import Calendar
from spm_domain.quotas import (
    CreditRecord,
    DatedValue,
    Milestone,
    MilestoneState,
    QuotaError,
    QuotaStatus,
    StatusRules,
    classify_status,
    credits_by_rep,
    default_milestones,
    evaluate_quota,
)
from spm_domain.targets import Measure

D = Decimal
CAL = Calendar()


@pytest.mark.parametrize(
    ("achieved", "elapsed", "status"),
    [
        ("0", "0", QuotaStatus.NOT_STARTED),
        ("0", "0.0999", QuotaStatus.NOT_STARTED),  # inside the 10% grace
        ("0", "0.1", QuotaStatus.AT_RISK),  # grace over, nothing sold
        ("1", "0.05", QuotaStatus.AT_RISK),  # sold something: pace 0.01 / 0.05 = 0.2
        ("5", "0.05", QuotaStatus.ON_TRACK),  # pace 1.0 inside the grace window
        ("45", "0.5", QuotaStatus.ON_TRACK),  # pace exactly 0.90: on track
        ("44.99", "0.5", QuotaStatus.AT_RISK),  # just under 0.90 of pace
        ("99.99", "1", QuotaStatus.AT_RISK),  # period over, short
        ("100", "0.3", QuotaStatus.ACHIEVED),  # exactly 100%
        ("109.99", "1", QuotaStatus.ACHIEVED),
        ("110", "0.2", QuotaStatus.EXCEEDED),  # exactly 110%
    ],
)
def test_status_boundaries(achieved: str, elapsed: str, status: QuotaStatus) -> None:
    assert classify_status(D(100), D(achieved), D(elapsed)) is status


def test_zero_target() -> None:
    assert classify_status(D(0), D(0), D("0.5")) is QuotaStatus.ACHIEVED
    assert classify_status(D(0), D(1), D("0.5")) is QuotaStatus.EXCEEDED


def test_rules_are_configurable_and_validated() -> None:
    strict = StatusRules(at_risk_below_pace=D("1.0"), exceeded_at=D("1.0"), not_started_grace=D(0))
    assert classify_status(D(100), D(49), D("0.5"), strict) is QuotaStatus.AT_RISK
    assert classify_status(D(100), D(100), D("0.5"), strict) is QuotaStatus.EXCEEDED
    assert classify_status(D(100), D(0), D("0.01"), strict) is QuotaStatus.AT_RISK
    with pytest.raises(ValidationError):
        StatusRules(achieved_at=D("1.2"), exceeded_at=D("1.1"))
    with pytest.raises(ValidationError):
        StatusRules(at_risk_below_pace=D(0))


def test_classify_refuses_out_of_range() -> None:
    with pytest.raises(QuotaError, match="negative"):
        classify_status(D(-1), D(0), D(0))
    with pytest.raises(QuotaError, match="outside"):
        classify_status(D(1), D(0), D("1.5"))


Q3 = CAL.parse("2017-Q3")  # 2017-07-01 .. 2017-09-30, 92 days
CREDITS = [
    DatedValue(date(2017, 7, 10), D("20000")),
    DatedValue(date(2017, 8, 14), D("15000")),
    DatedValue(date(2017, 8, 15), D("99999")),  # counts only after Aug 15 00:00
    DatedValue(date(2017, 6, 30), D("50000")),  # before the period: never counts
]


def test_evaluate_quota_at_midquarter() -> None:
    as_of = datetime(2017, 8, 15, tzinfo=UTC)  # 45 of 92 days elapsed
    p = evaluate_quota(
        rep_id="ann", measure=Measure.REVENUE, currency="USD", target=D(90000),
        credits=CREDITS, period=Q3, as_of=as_of, calendar=CAL,
    )  # fmt: skip
    assert p.achieved == D(35000)
    assert p.variance == D(-55000)
    assert p.variance_pct is not None and round(p.variance_pct, 4) == D("-0.6111")
    assert round(p.elapsed, 6) == round(D(45) / D(92), 6)
    assert p.status is QuotaStatus.AT_RISK  # 38.9% done at 48.9% elapsed: pace 0.795
    assert not p.period_closed
    july, august = p.milestones
    assert july.milestone.due == date(2017, 7, 31) and july.state is MilestoneState.MISSED
    assert july.achieved_by_due == D(20000)  # needed 30,000
    assert august.state is MilestoneState.PENDING


def test_milestone_met_early_and_period_closed() -> None:
    as_of = datetime(2017, 10, 3, tzinfo=UTC)
    p = evaluate_quota(
        rep_id="ann", measure=Measure.REVENUE, currency="USD", target=D(100000),
        credits=CREDITS, period=Q3, as_of=as_of, calendar=CAL,
        milestones=[Milestone("half by Aug 20", date(2017, 8, 20), D("0.5"))],
    )  # fmt: skip
    assert p.achieved == D(134999) and p.status is QuotaStatus.EXCEEDED and p.period_closed
    assert p.milestones[0].state is MilestoneState.MET


def test_milestone_outside_period_is_refused() -> None:
    with pytest.raises(QuotaError, match="outside period 2017-Q3"):
        evaluate_quota(
            rep_id="a", measure=Measure.UNITS, currency=None, target=D(1), credits=[],
            period=Q3, as_of=datetime(2017, 8, 1, tzinfo=UTC), calendar=CAL,
            milestones=[Milestone("x", date(2017, 12, 1), D("0.5"))],
        )  # fmt: skip


def test_timezone_of_calendar_decides_what_counts() -> None:
    tokyo = Calendar(timezone="Asia/Tokyo")
    # 2017-08-14 16:00 UTC is already Aug 15 01:00 in Tokyo: the Aug 15 credit counts there.
    as_of = datetime(2017, 8, 14, 16, 0, tzinfo=UTC)
    kwargs = dict(
        rep_id="a",
        measure=Measure.REVENUE,
        currency="USD",
        target=D(1),
        credits=CREDITS,
        period=Q3,
        as_of=as_of,
    )
    assert evaluate_quota(calendar=tokyo, **kwargs).achieved == D(134999)  # type: ignore[arg-type]
    assert evaluate_quota(calendar=CAL, **kwargs).achieved == D(35000)  # Aug 15 not yet  # type: ignore[arg-type]


def test_default_milestones() -> None:
    assert [m.due for m in default_milestones(Q3, CAL)] == [date(2017, 7, 31), date(2017, 8, 31)]
    year = default_milestones(CAL.parse("2017"), CAL)
    assert [m.due.month for m in year] == [3, 6, 9]
    assert [m.required_fraction for m in year] == [D("0.25"), D("0.5"), D("0.75")]
    (half,) = default_milestones(CAL.parse("2017-02"), CAL)
    assert half.due == date(2017, 2, 14) and half.required_fraction == D("0.5")


def _txn(tid: str, rep: str, day: date, amount: str, **kw: object) -> CreditRecord:
    fields: dict[str, object] = dict(share=D(1), currency="USD", amount=D(amount))
    fields.update(kw)
    return CreditRecord(tid, rep, day, **fields)  # type: ignore[arg-type]


def test_credits_by_measure() -> None:
    txns = [
        _txn(
            "t1",
            "ann",
            date(2017, 7, 1),
            "100",
            share=D("0.5"),
            quantity=D(4),
            margin=D(30),
            account_id="acme",
        ),
        _txn(
            "t1",
            "bob",
            date(2017, 7, 1),
            "100",
            share=D("0.5"),
            quantity=D(4),
            margin=D(30),
            account_id="acme",
        ),
        _txn("t2", "ann", date(2017, 7, 9), "50", account_id="acme"),  # repeat customer
        _txn(
            "t3", "ann", date(2017, 7, 9), "70", account_id="initech", cancel_date=date(2017, 7, 20)
        ),
        _txn("t4", "bob", date(2016, 1, 1), "10", account_id="globex"),
        _txn("t5", "bob", date(2017, 7, 2), "10", account_id="globex"),  # not new: first in 2016
    ]
    revenue = credits_by_rep(txns, Measure.REVENUE, currency="USD", cancelled_by=date(2017, 8, 1))
    assert sum(v.value for v in revenue["ann"]) == D(100)  # 50 + 50; t3 cancelled before as-of
    before_cancel = credits_by_rep(txns, Measure.REVENUE, cancelled_by=date(2017, 7, 19))
    assert sum(v.value for v in before_cancel["ann"]) == D(170)
    assert sum(v.value for v in credits_by_rep(txns, Measure.UNITS)["bob"]) == D(2)
    assert sum(v.value for v in credits_by_rep(txns, Measure.MARGIN)["ann"]) == D(15)
    new = credits_by_rep(txns, Measure.NEW_CUSTOMERS, cancelled_by=date(2017, 8, 1))
    assert [(v.day, v.value) for v in new["ann"]] == [(date(2017, 7, 1), D(1))]
    assert [v.day for v in new["bob"]] == [date(2017, 7, 1), date(2016, 1, 1)]
    # A window keeps "first transaction" global: globex is not new in 2017.
    in_2017 = credits_by_rep(
        txns, Measure.NEW_CUSTOMERS, between=(date(2017, 1, 1), date(2018, 1, 1))
    )
    assert [v.day for v in in_2017["bob"]] == [date(2017, 7, 1)]


def test_currency_mismatch_names_the_transaction() -> None:
    txns = [_txn("t9", "ann", date(2017, 7, 1), "5", currency="EUR")]
    with pytest.raises(QuotaError, match="transaction 't9' of rep 'ann' is in EUR"):
        credits_by_rep(txns, Measure.REVENUE, currency="USD")
    assert credits_by_rep(txns, Measure.REVENUE, currency="USD", rep_ids=["bob"]) == {}


def test_fx_converts_at_the_credit_month_rate() -> None:
    from spm_domain.quotas import roll_up_to_managers

    txns = [
        _txn("e1", "ann", date(2017, 7, 3), "100", currency="EUR"),
        _txn("e2", "ann", date(2017, 8, 3), "100", currency="EUR"),
    ]
    fx = {("2017-07", "EUR", "USD"): D("1.10"), ("2017-08", "USD", "EUR"): D("0.8")}
    credits = credits_by_rep(txns, Measure.REVENUE, currency="USD", fx=fx)
    assert [v.value for v in credits["ann"]] == [D("110.0"), D(125)]  # direct; then 1 / 0.8
    with pytest.raises(QuotaError, match="no EUR->USD rate for 2017-09"):
        credits_by_rep(
            [_txn("e3", "ann", date(2017, 9, 1), "1", currency="EUR")],
            Measure.REVENUE,
            currency="USD",
            fx=fx,
        )
    rolled = roll_up_to_managers(credits, {"ann": "mia", "mia": "vp", "vp": None})
    assert sum(v.value for v in rolled["vp"]) == D("235.0") and len(rolled["mia"]) == 2
    with pytest.raises(QuotaError, match="management cycle"):
        roll_up_to_managers(credits, {"ann": "mia", "mia": "ann"})
