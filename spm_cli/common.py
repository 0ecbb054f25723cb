"""Shared CLI plumbing: logging, exit codes, JSON output, error reporting."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any

import typer

log = logging.getLogger("spm")

# Options shared by every verb that reads the canonical store.
DATA_DIR_OPTION = typer.Option(
    Path("./data"),
    "--data-dir",
    envvar="SPM_DATA_DIR",
    help="Directory of the embedded store (<dir>/canonical/<table>.parquet).",
)
STORE_OPTION = typer.Option(
    None,
    "--store",
    envvar="SPM_STORE",
    help="PostgreSQL URL (postgresql+psycopg://user@host/db?schema=name); overrides --data-dir.",
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")


class ExitCode(IntEnum):
    """Exit codes that mean something to a script calling `spm`."""

    OK = 0
    FAILURE = 1  # unexpected internal error
    USAGE = 2  # bad command line (Typer/Click's own code)
    INVALID_INPUT = 3  # input data or plan failed validation; nothing was written
    NOT_FOUND = 4  # a referenced file, run, line or model does not exist
    CONFLICT = 5  # state forbids it (e.g. approving a paid line, a concurrent approval)
    UNAVAILABLE = 6  # a required service (database, registry) could not be reached


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # Libraries' step-by-step INFO (migrations, plugin set-up) is noise for a CLI user.
    for noisy in ("alembic", "feast", "mlflow", "bentoml", "httpx"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def emit_json(payload: Any) -> None:
    """Write one JSON document to stdout (for machines; logs go to stderr)."""
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(int(code))


@contextmanager
def cli_errors(mapping: dict[type[BaseException], ExitCode]) -> Iterator[None]:
    """Turn known exceptions into a clear message and a meaningful exit code."""
    try:
        yield
    except tuple(mapping) as exc:  # type: ignore[misc]
        for exc_type, code in mapping.items():
            if isinstance(exc, exc_type):
                raise fail(str(exc), code) from None
        raise
