"""The commission benchmark at smoke size: for correctness only (no timing goals)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def test_benchmark_smoke_engine_equals_reference(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).with_name("commissions.py")
    spec = importlib.util.spec_from_file_location("commissions_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--smoke"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["reference_equals_engine"] is True
    assert figures["int64_path"] is True
    assert figures["lines"] > 0 and figures["rows"] > figures["transactions"]  # splits present
