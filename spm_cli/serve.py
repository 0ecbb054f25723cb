"""`spm serve`: start the scoring and calculator API (BentoML), and manage its
API keys (`spm serve keys create | list | revoke`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from spm_cli.common import ExitCode, emit_json, fail, log

SERVICE_IMPORT = "serving.service:SpmService"
REPO_ROOT = Path(__file__).resolve().parents[1]
TELEMETRY_OFF = {
    "BENTOML_DO_NOT_TRACK": "true",
    "FEAST_USAGE": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}

serve_app = typer.Typer(
    name="serve",
    help="Serve the HTTP API (commissions, quotas, estimates, models) and manage API keys.",
    invoke_without_command=True,
)
keys_app = typer.Typer(
    name="keys", help="API keys (stored hashed; roles scope what a key sees).", no_args_is_help=True
)
serve_app.add_typer(keys_app, name="keys")

CONFIG_OPTION = typer.Option(
    None, "--config", help="Serving config YAML (sets SPM_SERVING_CONFIG); env vars override it."
)
KEY_STORE_OPTION = typer.Option(
    None, "--key-store", help="SQLAlchemy URL of the key store (default from the serving config)."
)


def _settings(config: Path | None, key_store: str | None = None) -> Any:
    from serving.settings import SettingsError, load_settings

    environ = dict(os.environ)
    if key_store:
        environ["SPM_SERVING_KEY_STORE_URL"] = key_store
    try:
        return load_settings(environ, config)
    except SettingsError as exc:
        raise fail(str(exc), ExitCode.INVALID_INPUT) from None


def _key_store(config: Path | None, key_store: str | None) -> Any:
    from serving.bootstrap import key_store as build_key_store

    return build_key_store(_settings(config, key_store))


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for all)."),
    port: int = typer.Option(3000, "--port", "-p", help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (each loads the models once)."
    ),
    config: Path | None = CONFIG_OPTION,
    reload: bool = typer.Option(False, "--reload", help="Restart on code changes (development)."),
) -> None:
    """Start the API on HOST:PORT until interrupted (Ctrl-C). OpenAPI at /docs.json,
    Swagger UI at /, probes at /livez and /readyz, Prometheus at /metrics."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(config)
    env = {**os.environ, **TELEMETRY_OFF}
    if config is not None:
        env["SPM_SERVING_CONFIG"] = str(config.resolve())
    if workers > 1:
        env["BENTOML_CONFIG_OPTIONS"] = (
            env.get("BENTOML_CONFIG_OPTIONS", "") + f" services.spm.workers={workers}"
        ).strip()
    try:
        active = [k for k in _key_store(config, None).list() if k.active]
    except Exception as exc:  # the service would fail the same way; say it clearly first
        raise fail(
            f"the key store cannot be opened: {type(exc).__name__}: {exc}", ExitCode.UNAVAILABLE
        ) from None
    if not active:
        log.warning(
            "no active API keys: every /v1 request will get 401 (create one: spm serve keys create)"
        )
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE_IMPORT,
        "--host",
        host,
        "--port",
        str(port),
    ]
    command += ["--working-dir", str(REPO_ROOT)]
    if reload:
        command.append("--reload")
    log.info("serving on http://%s:%d (data dir %s)", host, port, settings.data_dir)
    process = subprocess.Popen(command, env=env)
    # Forward a stop request (service manager, container runtime) to the server.
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        code = process.wait(timeout=30)
    if code not in (0, -2, -15):
        raise typer.Exit(int(ExitCode.FAILURE))


@serve_app.command("check")
def check(
    data_dir: Path = typer.Option(
        Path("./data"),
        "--data-dir",
        envvar="SPM_DATA_DIR",
        help="Data directory: canonical store, feature tables, online store, key store.",
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow registry the models load from (default: where `spm train` registers: "
        "$SPM_MLFLOW_TRACKING_URI, $MLFLOW_TRACKING_URI, sqlite:///<repo>/mlflow/mlflow.db).",
    ),
    leads: list[str] | None = typer.Option(
        None, "--lead", help="Lead id to score (repeatable; default: 3 X Education leads)."
    ),
    deals: list[str] | None = typer.Option(
        None,
        "--deal",
        help="Deal id to score (repeatable; default: 1 Maven CRM open deal + 2 IBM deals).",
    ),
    reps: list[str] | None = typer.Option(
        None, "--rep", help="Rep id to score (repeatable; default: 2 AdventureWorks + 1 Maven)."
    ),
    request_time: str | None = typer.Option(
        None,
        "--request-time",
        help="As-of time of the scores (ISO; a date means the end of that day; default now). "
        "Use the materialize end date so request-time features are sensible.",
    ),
    plan: Path = typer.Option(
        REPO_ROOT / "examples" / "plans" / "maven-ae-2025.yaml",
        "--plan",
        help="Commission plan (YAML/JSON) sent as the JSON plan contract.",
    ),
    inputs: Path | None = typer.Option(
        None,
        "--inputs",
        help="Exported commission inputs (transactions/quotas/roster/fx .csv; default "
        "<data-dir>/demo/commission-inputs, what `spm data export-commission-inputs` wrote).",
    ),
    statement_rep: str = typer.Option(
        "Darcel Schlecht", "--statement-rep", help="Rep whose transactions are sent."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Where the slice, the answer and the server log go "
        "(default <data-dir>/demo/serve-check).",
    ),
    port: int = typer.Option(0, "--port", help="Loopback port (0: a free one)."),
    startup_timeout: float = typer.Option(
        180.0,
        "--startup-timeout",
        min=1.0,
        help="Seconds to wait for /readyz (the service loads its models first).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
) -> None:
    """Start the service on a free loopback port, score real records by id and
    calculate a statement over HTTP, print the answers, then stop the server.
    Exits 1 if any call failed (the answers are printed either way)."""
    from dataclasses import asdict

    from spm_cli import demo_http
    from training.registry import resolve_tracking_uri

    inputs = inputs or data_dir / "demo" / "commission-inputs"
    out = out or data_dir / "demo" / "serve-check"
    explicit = {"lead": leads or [], "deal": deals or [], "attainment": reps or []}
    try:
        entities = explicit if any(explicit.values()) else demo_http.pick_entities(data_dir)
        result = demo_http.run_check(
            data_dir=data_dir,
            tracking_uri=resolve_tracking_uri(tracking_uri),
            entities=entities,
            request_time=demo_http.parse_request_time(request_time),
            plan=plan,
            inputs=inputs,
            statement_rep=statement_rep,
            out=out,
            port=port,
            startup_timeout=startup_timeout,
            request_timeout=60.0,
        )
    except demo_http.CheckError as exc:
        raise fail(str(exc), ExitCode.UNAVAILABLE) from None
    if result.statement.get("status") == 200:
        local = demo_http.local_totals(plan, result.statement["slice"])
        served = demo_http.statement_totals(result.statement["answer"])
        result.statement["local_totals"] = {k: str(v) for k, v in local.items()}
        if local != served:
            result.failures.append(
                f"HTTP statement totals {served} differ from the local engine's {local}"
            )
    if as_json:
        emit_json(asdict(result))
    else:
        demo_http.print_result(result)
        if "local_totals" in result.statement and not result.failures:
            typer.echo("  same totals as `spm commissions calculate` on the slice: yes")
        typer.echo(f"server stopped; slice, answer and server log in {out}")
    if result.failures:
        for failure in result.failures:
            typer.secho(f"FAILED {failure}", err=True, fg=typer.colors.RED)
        raise typer.Exit(int(ExitCode.FAILURE))


def _key_json(record: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "role": record.role.value,
        "rep_id": record.rep_id,
        "label": record.label,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., "--role", help="rep | manager | admin | executive | service."),
    rep: str | None = typer.Option(
        None, "--rep", help="Rep id the key acts for (required for rep and manager)."
    ),
    label: str = typer.Option("", "--label", help="Free text: who or what holds the key."),
    config: Path | None = CONFIG_OPTION,
    key_store: str | None = KEY_STORE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the key and its record as JSON."),
) -> None:
    """Create a key and print it ONCE (only a salted hash is stored)."""
    from serving.security import Role, issue_key

    try:
        chosen = Role(role.strip().lower())
    except ValueError:
        raise fail(
            f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}", ExitCode.USAGE
        ) from None
    try:
        issued = issue_key(chosen, rep, label)
    except ValueError as exc:
        raise fail(str(exc), ExitCode.USAGE) from None
    _key_store(config, key_store).add(issued.record)
    if as_json:
        emit_json({**_key_json(issued.record), "api_key": issued.plain_key})
        return
    typer.echo(issued.plain_key)
    typer.secho(
        f"key {issued.record.key_id} ({chosen.value}{' for ' + rep if rep else ''}): store it now, it is not shown again",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    config: Path | None = CONFIG_OPTION,
    key_store: str | None = KEY_STORE_OPTION,
    show_revoked: bool = typer.Option(False, "--all", help="Include revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """List keys (ids, roles, reps; never secrets or hashes)."""
    records = [r for r in _key_store(config, key_store).list() if show_revoked or r.active]
    if as_json:
        emit_json([_key_json(r) for r in records])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("key id", "role", "rep", "label", "created", "revoked")
    for r in records:
        table.add_row(
            r.key_id, r.role.value, r.rep_id or "", r.label,
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "",
        )  # fmt: skip
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: str = typer.Argument(..., help="The key id (second part of spm_<id>_<secret>)."),
    config: Path | None = CONFIG_OPTION,
    key_store: str | None = KEY_STORE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Revoke a key: it stops working on the next request."""
    from datetime import UTC, datetime

    if not _key_store(config, key_store).revoke(key_id, datetime.now(UTC)):
        raise fail(f"no active key with id {key_id!r}", ExitCode.NOT_FOUND)
    if as_json:
        emit_json({"key_id": key_id, "revoked": True})
    else:
        typer.echo(f"revoked {key_id}")
