"""The ledger's behavioural tests on the machine's PostgreSQL, each test in its
own schema that is dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _ledger_behaviour import *  # noqa: F403  (the shared tests)
from _ledger_support import LedgerTarget, postgres_target

pytestmark = pytest.mark.postgres


@pytest.fixture
def target(postgres_url: str) -> Iterator[LedgerTarget]:
    yield from postgres_target(postgres_url)
