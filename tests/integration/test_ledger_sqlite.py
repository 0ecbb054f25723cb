"""The ledger's behavioural tests on SQLite (the default backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _ledger_behaviour import *  # noqa: F403  (the shared tests)
from _ledger_support import LedgerTarget


@pytest.fixture
def target(tmp_path: Path) -> LedgerTarget:
    return LedgerTarget(f"sqlite:///{tmp_path / 'ledger.db'}")
