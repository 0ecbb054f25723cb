from typer.testing import CliRunner

from spm_cli.main import app


def test_root_help_lists_usage() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
