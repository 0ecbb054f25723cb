"""`spm train`: help text and a clear error when there is no canonical store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from spm_cli.common import ExitCode
from spm_cli.main import app


def test_train_help_lists_the_verb() -> None:
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "models" in result.output


def test_train_models_without_a_store_is_not_found(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "models", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)]
    )
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no canonical store" in result.output
    assert not list(tmp_path.iterdir())
