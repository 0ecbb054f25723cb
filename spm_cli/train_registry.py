"""`spm train lead_scoring|deal_risk|attainment|all`: train, log to MLflow, register, gate.

    spm train all --data-dir ./data        # after `spm features apply --data-dir ./data`
    spm train deal_risk --json

Each model is trained beside its baseline on a training set built through its
feature service (point-in-time joins, `features.training_sets`; labels from
the canonical store, real rows only), logged to MLflow (metrics of model and baseline side by side, slices,
plots, model card), registered as a new version with the `challenger` alias,
and made `champion` only if the promotion gate passes (docs/mlops.md).
`train_models(...)` is the same thing as a function, for `spm demo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from spm_cli.common import ExitCode, cli_errors, emit_json, fail

MODELS: tuple[str, ...] = ("lead_scoring", "deal_risk", "attainment")
TABLES = ("leads", "opportunities", "reps", "products", "accounts", "transactions", "quotas")


@dataclass(frozen=True)
class TrainSummary:
    model: str
    dataset: str
    version: str
    promoted: bool
    champion: str | None
    metrics: dict[str, float]
    baseline: str
    baseline_metrics: dict[str, float]
    seconds: float
    reasons: list[str] = field(default_factory=list)
    model_card: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


CAVEATS: dict[str, str] = {
    "lead_scoring": "X Education leads are undated: the split is random, not by time.",
    "deal_risk_ibm": "IBM win-loss rows are captured at close and undated; scores on open "
    "deals assume the same fields are known earlier.",
    "deal_risk_maven": "Maven CRM outcomes carry almost no signal (docs/models.md).",
    "attainment_adventureworks": "AdventureWorks credits are territory sales credited to "
    "every rep assigned to the territory (features.territories).",
    "attainment_maven": "Maven CRM has no quotas: they are derived from past sales "
    "(docs/synthetic-data.md).",
}


def training_sets(
    keys: Sequence[str] | None, tables: dict[str, Any], data_dir: Path, config: str = "default"
) -> dict[str, Any]:
    """Training sets by key, each built through its feature service (point-in-time)."""
    from features.feature_store import open_feature_store
    from features.training_sets import entity_frames, training_set

    entities = entity_frames(tables, data_dir, keys)
    store = open_feature_store(data_dir, config)
    return {key: training_set(e, data_dir, config, store=store) for key, e in entities.items()}


def train_one(
    name: str, tables: dict[str, Any], data_dir: Path, config: str = "default"
) -> tuple[Any, list[str], str]:
    """(ModelResult, caveats, feature service) of one registered model: trained on the
    first training set of `REGISTERED_SET[name]` that the data supports."""
    from features.training_sets import REGISTERED_SET, SERVICES, entity_frames, training_set
    from training.workflows import TRAINERS

    if name not in REGISTERED_SET:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    # only this model's sets; attainment falls back to Maven when AdventureWorks
    # cannot be built, so a missing set is an error only for single-set models
    wanted = REGISTERED_SET[name]
    entities = entity_frames(tables, data_dir, wanted, strict=len(wanted) == 1)
    for key in REGISTERED_SET[name]:
        if key in entities:
            frame = training_set(entities[key], data_dir, config)
            return TRAINERS[key](frame), [CAVEATS[key]], SERVICES[name]
    raise ValueError(f"{name}: no training data (import the shared datasets or your CRM data)")


def load_tables(data_dir: Path, store_url: str = "") -> dict[str, Any]:
    from features.ingest.storage import open_store

    store = open_store(store_url or data_dir)
    present = set(store.table_names())
    return {n: store.read_table(n) for n in (*TABLES, "org_units") if n in present}


def train_models(
    names: Sequence[str],
    data_dir: Path,
    tracking_uri: str | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    store_url: str = "",
) -> list[TrainSummary]:
    """Train, log, register and gate each named model; one summary per model."""
    from training.registry import CHAMPION, ModelRegistry

    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    registry = ModelRegistry(tracking_uri)
    if progress:
        progress("reading the canonical tables")
    tables = load_tables(data_dir, store_url)
    summaries = []
    for name in names:
        started = time.perf_counter()
        if progress:
            progress(f"training {name}")
        result, caveats, service = train_one(name, tables, data_dir)
        if progress:
            progress(f"logging and registering {name}")
        registered = registry.register(
            result,
            feature_service=service,
            data_source=store_url or str(data_dir),
            caveats=caveats,
        )
        decision = registered.decision
        summaries.append(
            TrainSummary(
                model=name,
                dataset=result.dataset,
                version=registered.version,
                promoted=registered.promoted,
                champion=registry.version_of(name, CHAMPION),
                metrics=registered.metrics,
                baseline=result.baseline_name,
                baseline_metrics=registered.baseline_metrics,
                seconds=round(time.perf_counter() - started, 1),
                reasons=list(decision.reasons) if decision else [],
                model_card=registered.card_path,
            )
        )
    return summaries


def print_summaries(summaries: Sequence[TrainSummary], tracking_uri: str) -> None:
    """A table of each model's held-out metrics next to its baseline's."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"held-out metrics, model / baseline ({tracking_uri})")
    for column in ("model", "dataset", "version", "ROC-AUC", "Brier", "ECE", "lift@10%", "gate"):
        table.add_column(column)
    for s in summaries:
        m, b = s.metrics, s.baseline_metrics
        table.add_row(
            s.model,
            s.dataset,
            s.version,
            f"{m['roc_auc']:.3f} / {b['roc_auc']:.3f}",
            f"{m['brier']:.4f} / {b['brier']:.4f}",
            f"{m['ece']:.3f} / {b['ece']:.3f}",
            f"{m['top_decile_lift']:.2f} / {b['top_decile_lift']:.2f}",
            "champion" if s.promoted else f"refused (champion v{s.champion})",
        )
    Console().print(table)


def _run(
    names: Sequence[str],
    data_dir: Path,
    store_url: str,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    import os

    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from features.feature_store import FeatureStoreError
    from features.ingest.storage import StoreError
    from training.registry import RegistryError, resolve_tracking_uri

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if not store_url and not data_dir.exists():
        raise fail(
            f"no canonical store at {data_dir} (run `spm data import-shared`)", ExitCode.NOT_FOUND
        )
    uri = resolve_tracking_uri(tracking_uri)
    started = time.perf_counter()
    with cli_errors(
        {
            StoreError: ExitCode.UNAVAILABLE,
            RegistryError: ExitCode.CONFLICT,
            FeatureStoreError: ExitCode.NOT_FOUND,
            KeyError: ExitCode.INVALID_INPUT,
            ValueError: ExitCode.INVALID_INPUT,
        }
    ), Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("starting", total=None)
        summaries = train_models(
            names,
            data_dir,
            uri,
            lambda label: bar.update(task, description=label),
            store_url=store_url,
        )
    seconds = round(time.perf_counter() - started, 1)
    if as_json:
        emit_json(
            {
                "tracking_uri": uri,
                "seconds": seconds,
                "models": [s.to_dict() for s in summaries],
            }
        )
        return
    print_summaries(summaries, uri)
    typer.echo(f"{len(summaries)} model(s) in {seconds} s", err=True)


DATA_DIR = typer.Option(
    Path("./data"),
    "--data-dir",
    help="Data directory: canonical store and the applied feature store (spm features apply).",
)
STORE = typer.Option(
    "", "--store", envvar="SPM_STORE", help="PostgreSQL URL; overrides --data-dir."
)
TRACKING = typer.Option(
    None,
    "--tracking-uri",
    help="MLflow tracking URI (default: $SPM_MLFLOW_TRACKING_URI, $MLFLOW_TRACKING_URI, "
    "sqlite:///<repo>/mlflow/mlflow.db).",
)
JSON = typer.Option(False, "--json", help="Machine-readable summary on stdout.")


def _command(names: tuple[str, ...], doc: str) -> Callable[..., None]:
    def command(
        data_dir: Path = DATA_DIR,
        store_url: str = STORE,
        tracking_uri: str | None = TRACKING,
        as_json: bool = JSON,
    ) -> None:
        _run(names, data_dir, store_url, tracking_uri, as_json)

    command.__doc__ = doc
    return command


def register_train_commands(app: typer.Typer) -> None:
    """Add `lead_scoring`, `deal_risk`, `attainment` and `all` to the `spm train` app."""
    for name in MODELS:
        app.command(name)(
            _command(
                (name,),
                f"Train {name} beside its baseline, register it in MLflow, promote if it "
                "beats the champion and the baseline on the same held-out rows.",
            )
        )
    app.command("all")(
        _command(MODELS, "Train, register and gate lead_scoring, deal_risk and attainment.")
    )
