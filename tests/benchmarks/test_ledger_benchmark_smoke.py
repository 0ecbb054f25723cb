"""The ledger benchmark at smoke size: for correctness only (no timing goals)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def test_ledger_benchmark_smoke_pays_exactly_what_was_posted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = Path(__file__).with_name("ledger.py")
    spec = importlib.util.spec_from_file_location("ledger_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--smoke"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures[0]["backend"] == "sqlite" and figures[0]["lines"] == 200
    assert figures[0]["paid_equals_posted"] is True
