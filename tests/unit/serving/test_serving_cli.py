"""`spm serve keys create | list | revoke` and `spm serve` refusing bad config."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from serving.adapters.key_store import SqlKeyStore
from serving.security import authenticate
from spm_cli.common import ExitCode
from spm_cli.main import app


def test_key_lifecycle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    runner = CliRunner()
    created = runner.invoke(
        app,
        [
            "serve",
            "keys",
            "create",
            "--role",
            "manager",
            "--rep",
            "M1",
            "--key-store",
            url,
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    record = json.loads(created.stdout)
    principal = authenticate(SqlKeyStore(url), record["api_key"])
    assert (principal.role.value, principal.rep_id) == ("manager", "M1")

    listed = runner.invoke(app, ["serve", "keys", "list", "--key-store", url, "--json"])
    assert listed.exit_code == 0
    (shown,) = json.loads(listed.stdout)
    assert (
        shown["key_id"] == record["key_id"] and "api_key" not in shown and "key_hash" not in shown
    )

    revoked = runner.invoke(app, ["serve", "keys", "revoke", record["key_id"], "--key-store", url])
    assert revoked.exit_code == 0
    again = runner.invoke(app, ["serve", "keys", "revoke", record["key_id"], "--key-store", url])
    assert again.exit_code == ExitCode.NOT_FOUND


def test_plain_create_prints_only_the_key_on_stdout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    result = CliRunner().invoke(
        app, ["serve", "keys", "create", "--role", "service", "--key-store", url]
    )
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("spm_") and len(result.stdout.strip().split()) == 1


def test_create_refuses_bad_roles_and_missing_reps(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.sqlite'}"
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["serve", "keys", "create", "--role", "boss", "--key-store", url]
        ).exit_code
        == ExitCode.USAGE
    )
    assert (
        runner.invoke(
            app, ["serve", "keys", "create", "--role", "rep", "--key-store", url]
        ).exit_code
        == ExitCode.USAGE
    )
    assert SqlKeyStore(url).list() == []


def test_serve_refuses_a_bad_config_before_starting(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("max_rows: lots\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--port", "1"])
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "max_rows" in result.output


def test_serve_help() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "keys" in result.output and "--port" in result.output
