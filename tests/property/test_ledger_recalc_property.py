"""Property: whatever sequence of recalculations and period closings happens,
the lines booked for an earned period add up, per rep and deal, to the latest
calculation, and nothing booked in a closed period ever changes."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spm_domain.ledger import Ledger, LineRecord, RunInput

KEYS = [("r1", "T1"), ("r1", "T2"), ("r2", "T3"), ("r2", "T4")]
calculation = st.dictionaries(
    st.sampled_from(KEYS), st.integers(min_value=-50_000, max_value=500_000), max_size=4
)
step = st.tuples(calculation, st.sampled_from([None, "2025-Q1", "2025-Q2", "2025-Q3"]))


def _run(number: int, amounts: dict[tuple[str, str], int]) -> RunInput:
    lines = tuple(
        LineRecord(rep, "2025-Q1", "base", Decimal(cents).scaleb(-2), "EUR", tx)
        for (rep, tx), cents in sorted(amounts.items())
    )
    return RunInput("plan_p", "v1", "hash", "2025-Q1", {"transactions": f"v{number}"}, lines)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=5))
def test_booked_lines_always_sum_to_the_latest_calculation(
    steps: list[tuple[dict[tuple[str, str], int], str | None]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        frozen: dict[str, list[tuple[int, Decimal, str]]] = {}
        try:
            for number, (amounts, close) in enumerate(steps):
                if close and ledger.period_status(close) == "open":
                    ledger.close_period(close, "fred")
                    frozen[close] = [(x.id, x.amount, x.status) for x in ledger.lines(period=close)]
                ledger.post_run(_run(number, amounts), "alice")
                booked: dict[tuple[str, str], Decimal] = {}
                for line in ledger.lines():
                    key = (line.rep_id, line.transaction_id)
                    booked[key] = booked.get(key, Decimal(0)) + line.amount
                expected = {k: Decimal(v).scaleb(-2) for k, v in amounts.items()}
                assert {k: v for k, v in booked.items() if v} == {
                    k: v for k, v in expected.items() if v
                }
                for period, lines in frozen.items():
                    assert [
                        (x.id, x.amount, x.status) for x in ledger.lines(period=period)
                    ] == lines
                assert all(
                    ledger.period_status(line.period) == "open" or line.id in _ids(frozen)
                    for line in ledger.lines()
                )
        finally:
            ledger.close()


def _ids(frozen: dict[str, list[tuple[int, Decimal, str]]]) -> set[int]:
    return {line_id for lines in frozen.values() for line_id, _amount, _status in lines}
