"""The ledger's behavioural tests on the machine's PostgreSQL, each test in its
own schema that is dropped afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from _ledger_behaviour import *  # noqa: F403  (the shared tests)
from _ledger_support import LedgerTarget, make_run, postgres_target

from spm_domain.ledger import LedgerConflictError

pytestmark = pytest.mark.postgres


@pytest.fixture
def target(postgres_url: str) -> Iterator[LedgerTarget]:
    yield from postgres_target(postgres_url)


def test_a_payer_waits_for_the_row_lock_and_then_sees_the_change(target: LedgerTarget) -> None:
    """SELECT ... FOR UPDATE on PostgreSQL: a payer blocks while another transaction
    holds the line, then re-reads it after that commit and refuses to pay."""
    with target.open() as ledger:
        ledger.post_run(make_run(amounts={("rep_1", "T1"): "100.00"}), "alice")
        line = ledger.lines()[0]
        ledger.approve(line.id, "mia", "manager")
        ledger.approve(line.id, "fred", "finance")
        outcome: list[object] = []
        with ledger.engine.connect() as holder:
            holder.execute(
                sa.text(
                    "UPDATE ledger_lines SET status = 'disputed', version = version + 1 WHERE id = :i"
                ),
                {"i": line.id},
            )  # row lock held until commit

            def pay() -> None:
                try:
                    outcome.append(ledger.pay("2025-Q1", "paula"))
                except Exception as exc:
                    outcome.append(exc)

            payer = threading.Thread(target=pay)
            started = time.monotonic()
            payer.start()
            payer.join(timeout=1.5)
            assert payer.is_alive(), "the payer should be waiting for the row lock"
            holder.commit()
            payer.join(timeout=30)
        assert time.monotonic() - started >= 1.5
        assert len(outcome) == 1 and isinstance(outcome[0], LedgerConflictError), outcome
        assert ledger.line(line.id).status == "disputed" and ledger.payments() == []
