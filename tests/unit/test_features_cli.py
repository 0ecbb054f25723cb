"""`spm features`: every verb documents itself, and the CLI stays fast to load
(Feast is imported inside the verbs only)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from spm_cli.main import app


@pytest.mark.parametrize("verb", ["build", "apply", "materialize", "describe"])
def test_every_verb_has_help(verb: str) -> None:
    result = CliRunner().invoke(app, ["features", verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "--data-dir" in result.output


def test_loading_the_cli_does_not_import_feast() -> None:
    code = "import sys, spm_cli.main; sys.exit(1 if 'feast' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_describe_on_a_missing_data_dir_is_not_found(tmp_path: object) -> None:
    result = CliRunner().invoke(app, ["features", "describe", "--data-dir", "/nonexistent/spm"])
    assert result.exit_code == 4, result.output
    assert "does not exist" in result.output


def test_bad_end_date_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["features", "materialize", "--end-date", "yesterday"])
    assert result.exit_code == 2
