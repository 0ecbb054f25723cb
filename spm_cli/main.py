"""`spm`: the command line of the SPM platform. The composition root for CLI
verbs: each area contributes one Typer sub-app; heavy imports happen inside
the verbs so `spm --help` stays fast."""

from __future__ import annotations

import typer

from spm_cli.common import configure_logging

app = typer.Typer(
    name="spm",
    help="Sales Performance Management: data import, commissions, quotas, models and scoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More logging (-vv for debug)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
) -> None:
    configure_logging(verbose, quiet)


# Sub-apps (one line per area; keep alphabetical).
from spm_cli.commissions import commissions_app, plans_app  # noqa: E402
from spm_cli.data import data_app  # noqa: E402
from spm_cli.demo import demo  # noqa: E402
from spm_cli.features import features_app  # noqa: E402
from spm_cli.ledger import app as ledger_app  # noqa: E402
from spm_cli.models import models_app  # noqa: E402
from spm_cli.monitor import monitor_app  # noqa: E402
from spm_cli.serve import serve_app  # noqa: E402
from spm_cli.synthetic import synthetic_app  # noqa: E402
from spm_cli.targets import quota_app, targets_app  # noqa: E402
from spm_cli.train import train_app  # noqa: E402

app.add_typer(commissions_app, name="commissions")
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(ledger_app, name="ledger")
app.add_typer(models_app, name="models")
app.add_typer(monitor_app, name="monitor")
app.add_typer(plans_app, name="plans")
app.add_typer(quota_app, name="quota")
app.add_typer(serve_app, name="serve")
app.add_typer(synthetic_app, name="synthetic")
app.add_typer(targets_app, name="targets")
app.add_typer(train_app, name="train")
app.command("demo")(demo)
