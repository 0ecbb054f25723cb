"""MLflow tracking and registry: log, register, gate, promote, roll back.

Contract with `serving/`: registered model names `lead_scoring`, `deal_risk`,
`attainment`; aliases `champion` (served) and `challenger` (the latest
candidate); `models:/<name>@champion` is what serving loads. Stages are never
used. Every version's model is a pyfunc logged as code
(`training/pyfunc_model.py`) over LightGBM's native model text and JSON: no
pickle is written.

Each version's run also holds `holdout/holdout.parquet` (the held-out rows and
their labels) and `reference/reference.parquet` (a sample of the training
rows), so a promotion can re-score the champion on the challenger's held-out
rows and `training.monitoring` can compare recent data with the training data.

Promotion gate (`GATE_RULES`): on the candidate's held-out rows the candidate's
primary metric must be strictly better than both the champion's and the
baseline's, and its guard metric no worse than either's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.metrics import BinaryMetrics, evaluate_binary

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from training.workflows import ModelResult

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT_NAME = "spm-training"
CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_NAMES: tuple[str, ...] = ("lead_scoring", "deal_risk", "attainment")
PYFUNC_CODE = Path(__file__).resolve().parent / "pyfunc_model.py"
LABEL_COLUMN = "__label__"
REFERENCE_ROWS = 5000
INPUT_EXAMPLE_ROWS = 5
HISTORY_TAG = "champion_history"  # JSON list of champion versions, oldest first
FORCE_TAG = "forced_promotion_reason"
HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "top_decile_lift": True}
HIGHER_IS_BETTER.update({"brier": False, "ece": False, "brier_skill_ratio": False})


@dataclass(frozen=True)
class GateRule:
    primary: str  # must be strictly better than champion and baseline
    guard: str  # must be no worse than champion and baseline


# Classifiers that rank (lead, deal) are judged on ROC-AUC; attainment is used
# as a probability of hitting quota, so calibration (Brier) comes first.
GATE_RULES: dict[str, GateRule] = {
    "lead_scoring": GateRule(primary="roc_auc", guard="brier"),
    "deal_risk": GateRule(primary="roc_auc", guard="brier"),
    "attainment": GateRule(primary="brier", guard="roc_auc"),
}
DEFAULT_GATE_RULE = GateRule(primary="roc_auc", guard="brier")


class RegistryError(RuntimeError):
    """The registry cannot do what was asked (unknown model/version, no champion...)."""


# --------------------------------------------------------------------------- configuration


def default_tracking_uri(root: Path = REPO_ROOT) -> str:
    return f"sqlite:///{(root / 'mlflow' / 'mlflow.db').resolve()}"


def resolve_tracking_uri(
    explicit: str | None = None, env: Mapping[str, str] | None = None, root: Path = REPO_ROOT
) -> str:
    """Explicit value, else `SPM_MLFLOW_TRACKING_URI`, else `MLFLOW_TRACKING_URI`,
    else SQLite under `<repo>/mlflow/`."""
    env = os.environ if env is None else env
    for value in (explicit, env.get("SPM_MLFLOW_TRACKING_URI"), env.get("MLFLOW_TRACKING_URI")):
        if value:
            return value
    return default_tracking_uri(root)


def artifact_root(
    tracking_uri: str, env: Mapping[str, str] | None = None, root: Path = REPO_ROOT
) -> Path:
    """Where runs' artifacts go: `SPM_MLFLOW_ARTIFACT_ROOT`, else `artifacts/` beside a
    SQLite file, else `<repo>/mlflow/artifacts` (e.g. for a PostgreSQL backend)."""
    env = os.environ if env is None else env
    if env.get("SPM_MLFLOW_ARTIFACT_ROOT"):
        return Path(env["SPM_MLFLOW_ARTIFACT_ROOT"]).resolve()
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
    return (root / "mlflow" / "artifacts").resolve()


def _prepare_sqlite(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class GateDecision:
    model: str
    candidate_version: str
    champion_version: str | None
    rule: GateRule
    candidate: dict[str, float]
    baseline: dict[str, float]
    champion: dict[str, float] | None
    passed: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "candidate_version": self.candidate_version,
            "champion_version": self.champion_version,
            "primary_metric": self.rule.primary,
            "guard_metric": self.rule.guard,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "champion": self.champion,
            "passed": self.passed,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    decision: GateDecision | None = None
    promoted: bool = False
    card_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _better(metric: str, value: float, other: float) -> bool:
    return value > other if HIGHER_IS_BETTER.get(metric, True) else value < other


def _not_worse(metric: str, value: float, other: float) -> bool:
    return value >= other if HIGHER_IS_BETTER.get(metric, True) else value <= other


def gate(
    model: str,
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    candidate_version: str = "",
    champion_version: str | None = None,
) -> GateDecision:
    """Pure decision: does the candidate beat the baseline (and the champion, if any)?

    All three sets of metrics must come from the same held-out rows.
    """
    rule = GATE_RULES.get(model, DEFAULT_GATE_RULE)
    reasons: list[str] = []
    opponents = [("baseline", baseline)] + ([("champion", champion)] if champion else [])
    for who, theirs in opponents:
        for metric, check, word in (
            (rule.primary, _better, "better than"),
            (rule.guard, _not_worse, "no worse than"),
        ):
            mine, other = float(candidate[metric]), float(theirs[metric])
            if math.isnan(mine) or not check(metric, mine, other):
                reasons.append(f"{metric} {mine:.4f} is not {word} the {who}'s {other:.4f}")
    return GateDecision(
        model=model,
        candidate_version=candidate_version,
        champion_version=champion_version,
        rule=rule,
        candidate=dict(candidate),
        baseline=dict(baseline),
        champion=dict(champion) if champion else None,
        passed=not reasons,
        reasons=tuple(reasons),
    )


# --------------------------------------------------------------------------- the registry


class ModelRegistry:
    """The MLflow tracking store and model registry at one tracking URI."""

    def __init__(self, tracking_uri: str | None = None, experiment: str = EXPERIMENT_NAME) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            _prepare_sqlite(self.tracking_uri)
            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        location = artifact_root(self.tracking_uri) / self.experiment
        location.mkdir(parents=True, exist_ok=True)
        return str(self.client.create_experiment(self.experiment, location.as_uri()))

    # ------------------------------------------------------------------ logging

    def log_result(
        self,
        result: ModelResult,
        *,
        feature_service: str,
        data_source: str = "",
        register_as: str | None = None,
    ) -> RegisteredVersion:
        """Log one trained model beside its baseline and register it as a new version.

        The new version gets the `challenger` alias; call `promote_if_better` next.
        """
        import mlflow

        from training.workflows import write_report

        name = register_as or result.name
        if result.test_features is None or result.train_features is None:
            raise RegistryError(f"{name}: the result carries no train/test feature rows")
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        experiment_id = self.experiment_id()
        with tempfile.TemporaryDirectory(prefix="spm-mlflow-") as tmp:
            work = Path(tmp)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}-{result.dataset}"):
                run = mlflow.active_run()
                assert run is not None
                run_id = run.info.run_id
                mlflow.set_tags(
                    {
                        "model": name,
                        "dataset": result.dataset,
                        "split": result.split,
                        "feature_service": feature_service,
                        "data_source": data_source,
                        "baseline": result.baseline_name,
                    }
                )
                mlflow.log_params(_params(result))
                mlflow.log_metrics(_metric_pairs(result))
                mlflow.log_dict(result.spec.to_dict(), "features/spec.json")
                report = write_report(result, work / "evaluation")
                mlflow.log_artifacts(str(report["metrics"].parent), "evaluation")
                holdout = _holdout_frame(result)
                holdout.to_parquet(work / "holdout.parquet", index=False)
                mlflow.log_artifact(str(work / "holdout.parquet"), "holdout")
                reference = _sample(result.train_features, REFERENCE_ROWS)
                reference.to_parquet(work / "reference.parquet", index=False)
                mlflow.log_artifact(str(work / "reference.parquet"), "reference")
                _log_baseline(result, work)
                info = self._log_pyfunc(result, name, work)
                version = str(info.registered_model_version)
        self.client.set_registered_model_alias(name, CHALLENGER, version)
        tags = {
            "dataset": result.dataset,
            "feature_service": feature_service,
            "run_id": run_id,
            "beats_baseline": str(result.beats_baseline).lower(),
            "primary_metric": GATE_RULES.get(name, DEFAULT_GATE_RULE).primary,
            **{f"test_{k}": f"{v:.6f}" for k, v in result.metrics.to_dict().items()},
            **{f"baseline_{k}": f"{v:.6f}" for k, v in result.baseline_metrics.to_dict().items()},
        }
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)
        log.info("registered %s version %s (run %s)", name, version, run_id)
        return RegisteredVersion(
            name=name,
            version=version,
            run_id=run_id,
            model_uri=f"models:/{name}/{version}",
            metrics=result.metrics.to_dict(),
            baseline_metrics=result.baseline_metrics.to_dict(),
        )

    def register(
        self,
        result: ModelResult,
        *,
        feature_service: str,
        data_source: str = "",
        register_as: str | None = None,
        caveats: Sequence[str] = (),
    ) -> RegisteredVersion:
        """Log + register a new version (challenger), run the promotion gate, write its card."""
        from training.cards import render_model_card

        logged = self.log_result(
            result,
            feature_service=feature_service,
            data_source=data_source,
            register_as=register_as,
        )
        decision = self.promote_if_better(logged.name, logged.version)
        card = render_model_card(
            result,
            name=logged.name,
            version=logged.version,
            feature_service=feature_service,
            run_id=logged.run_id,
            decision=decision,
            data_source=data_source,
            extra_caveats=caveats,
        )
        with tempfile.TemporaryDirectory(prefix="spm-card-") as tmp:
            path = Path(tmp) / "model_card.md"
            path.write_text(card, encoding="utf-8")
            self.client.log_artifact(logged.run_id, str(path), "evaluation")
        card_uri = f"runs:/{logged.run_id}/evaluation/model_card.md"
        summary = (
            f"{result.dataset}: ROC-AUC {result.metrics.roc_auc:.4f} (baseline "
            f"{result.baseline_metrics.roc_auc:.4f}), Brier {result.metrics.brier:.4f} (baseline "
            f"{result.baseline_metrics.brier:.4f}). Gate: {'passed' if decision.passed else 'refused'}. "
            f"Model card: {card_uri}"
        )
        self.client.update_model_version(logged.name, logged.version, description=summary)
        self.client.set_model_version_tag(logged.name, logged.version, "model_card", card_uri)
        return RegisteredVersion(
            name=logged.name,
            version=logged.version,
            run_id=logged.run_id,
            model_uri=logged.model_uri,
            metrics=logged.metrics,
            baseline_metrics=logged.baseline_metrics,
            decision=decision,
            promoted=decision.passed,
            card_path=card_uri,
            extra={"card": card},
        )

    def model_card(self, name: str, version: str) -> str:
        return self.run_artifact(name, version, "evaluation/model_card.md").read_text(
            encoding="utf-8"
        )

    def _log_pyfunc(self, result: ModelResult, name: str, work: Path) -> Any:
        import mlflow
        from mlflow.models import infer_signature

        from training.pipelines import save_pipeline

        assert result.test_features is not None
        pipeline_dir = save_pipeline(
            result.pipeline,
            work / "pipeline",
            {"model": name, "dataset": result.dataset},
            phrases=result.phrases,
        )
        sample = _integers_as_floats(result.test_features.head(200))
        example = _json_safe(sample.head(INPUT_EXAMPLE_ROWS))
        signature = infer_signature(sample, result.pipeline.predict_proba(sample)[:, 1])
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_CODE),
            artifacts={"pipeline": str(pipeline_dir)},
            signature=signature,
            input_example=example,
            registered_model_name=name,
            pip_requirements=_requirements(),
        )

    # ------------------------------------------------------------------ reading

    def version_of(self, name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def _version(self, name: str, version: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise RegistryError(f"model {name!r} has no version {version!r}") from exc

    def load_model(self, name: str, version_or_alias: str) -> Any:
        import mlflow

        mlflow.set_registry_uri(self.tracking_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        sep = "@" if not str(version_or_alias).isdigit() else "/"
        return mlflow.pyfunc.load_model(f"models:/{name}{sep}{version_or_alias}")

    def run_artifact(self, name: str, version: str, path: str) -> Path:
        """Download one artifact of the version's training run into a temp dir."""
        import mlflow

        run_id = self._version(name, version).run_id
        target = Path(tempfile.mkdtemp(prefix="spm-artifact-"))
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(target), tracking_uri=self.tracking_uri
        )
        return Path(local)

    def holdout(self, name: str, version: str) -> tuple[pd.DataFrame, np.ndarray]:
        frame = pd.read_parquet(self.run_artifact(name, version, "holdout/holdout.parquet"))
        labels = frame.pop(LABEL_COLUMN).to_numpy().astype(int)
        return frame, labels

    def reference(self, name: str, version: str) -> pd.DataFrame:
        return pd.read_parquet(self.run_artifact(name, version, "reference/reference.parquet"))

    def list_models(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every registered model with its versions, aliases and key metrics."""
        rows = []
        for model in self.client.search_registered_models():
            if names and model.name not in names:
                continue
            aliases: dict[str, list[str]] = {}
            for alias, version in (model.aliases or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            versions = []
            for mv in self.client.search_model_versions(f"name='{model.name}'"):
                tags = dict(mv.tags or {})
                versions.append(
                    {
                        "version": str(mv.version),
                        "aliases": sorted(aliases.get(str(mv.version), [])),
                        "created": _iso(mv.creation_timestamp),
                        "run_id": mv.run_id,
                        "dataset": tags.get("dataset"),
                        "roc_auc": _float(tags.get("test_roc_auc")),
                        "brier": _float(tags.get("test_brier")),
                        "baseline_roc_auc": _float(tags.get("baseline_roc_auc")),
                        "baseline_brier": _float(tags.get("baseline_brier")),
                        "tags": tags,
                    }
                )
            versions.sort(key=lambda v: int(str(v["version"])))
            rows.append(
                {
                    "name": model.name,
                    "champion": self.version_of(model.name, CHAMPION),
                    "challenger": self.version_of(model.name, CHALLENGER),
                    "champion_history": self._history(model.name),
                    "versions": versions,
                }
            )
        rows.sort(key=lambda r: r["name"])
        return rows

    # ------------------------------------------------------------------ promotion

    def evaluate_gate(self, name: str, version: str) -> GateDecision:
        """Score the candidate and the current champion on the candidate's held-out rows."""
        self._version(name, version)
        features, labels = self.holdout(name, version)
        candidate = self._score(name, version, features, labels)
        tags = dict(self._version(name, version).tags or {})
        baseline = {
            k.removeprefix("baseline_"): float(v)
            for k, v in tags.items()
            if k.startswith("baseline_")
        }
        champion_version = self.version_of(name, CHAMPION)
        champion = None
        if champion_version is not None and champion_version != str(version):
            champion = self._score(name, champion_version, features, labels)
        return gate(
            name,
            candidate,
            baseline,
            champion,
            candidate_version=str(version),
            champion_version=champion_version if champion is not None else None,
        )

    def _score(
        self, name: str, version: str, features: pd.DataFrame, labels: np.ndarray
    ) -> dict[str, float]:
        model = self.load_model(name, version)
        try:
            scores = np.asarray(model.predict(_integers_as_floats(features)), dtype="float64")
        except Exception as exc:
            detail = str(exc).strip().splitlines()[-1][-300:] if str(exc).strip() else ""
            raise RegistryError(
                f"{name} version {version} cannot score the held-out rows: "
                f"{type(exc).__name__}: {detail}"
            ) from exc
        metrics: BinaryMetrics = evaluate_binary(labels, scores, reference_rate=labels.mean())
        return metrics.to_dict()

    def promote_if_better(self, name: str, version: str) -> GateDecision:
        decision = self.evaluate_gate(name, version)
        if decision.passed:
            self._make_champion(name, version, reason="passed the promotion gate")
        else:
            log.info("%s v%s not promoted: %s", name, version, "; ".join(decision.reasons))
        self.client.set_model_version_tag(
            name, version, "gate", json.dumps(decision.to_dict(), sort_keys=True)
        )
        return decision

    def promote(
        self, name: str, version: str, *, force: bool = False, reason: str | None = None
    ) -> GateDecision | None:
        """Manual promotion: gated unless `force`, which requires a recorded reason."""
        self._version(name, version)
        if force:
            if not reason or not reason.strip():
                raise RegistryError("a forced promotion needs a reason (--reason)")
            self.client.set_model_version_tag(name, version, FORCE_TAG, reason.strip())
            self._make_champion(name, version, reason=f"forced: {reason.strip()}")
            return None
        decision = self.evaluate_gate(name, version)
        if not decision.passed:
            raise PromotionRefused(decision)
        self._make_champion(name, version, reason="manual, passed the promotion gate")
        return decision

    def rollback(self, name: str) -> tuple[str, str]:
        """Champion → the previous champion version. Returns (from, to)."""
        history = self._history(name)
        current = self.version_of(name, CHAMPION)
        if current is None:
            raise RegistryError(f"model {name!r} has no champion to roll back")
        while history and history[-1] == current:
            history.pop()
        if not history:
            raise RegistryError(f"model {name!r} has no previous champion to roll back to")
        previous = history[-1]
        self.client.set_registered_model_alias(name, CHAMPION, previous)
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        self.client.set_model_version_tag(name, current, "rolled_back_at", _now())
        self.client.set_model_version_tag(name, previous, "restored_at", _now())
        log.info("%s: champion rolled back from v%s to v%s", name, current, previous)
        return current, previous

    def _history(self, name: str) -> list[str]:
        model = self.client.get_registered_model(name)
        raw = (model.tags or {}).get(HISTORY_TAG)
        return [str(v) for v in json.loads(raw)] if raw else []

    def _make_champion(self, name: str, version: str, *, reason: str) -> None:
        history = self._history(name)
        if not history or history[-1] != str(version):
            history.append(str(version))
        self.client.set_registered_model_alias(name, CHAMPION, str(version))
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        self.client.set_model_version_tag(name, version, "promoted_at", _now())
        self.client.set_model_version_tag(name, version, "promotion_reason", reason)
        if self.version_of(name, CHALLENGER) == str(version):
            self.client.delete_registered_model_alias(name, CHALLENGER)
        log.info("%s: version %s is champion (%s)", name, version, reason)


class PromotionRefused(RegistryError):
    def __init__(self, decision: GateDecision) -> None:
        self.decision = decision
        super().__init__(
            f"{decision.model} version {decision.candidate_version} not promoted: "
            + "; ".join(decision.reasons)
        )


# --------------------------------------------------------------------------- helpers


def _params(result: ModelResult) -> dict[str, Any]:
    model = result.pipeline.named_steps["model"]
    params = {f"model.{k}": v for k, v in model.get_params().items() if not isinstance(v, list)}
    return {
        **params,
        "dataset": result.dataset,
        "split": result.split[:250],
        "baseline": result.baseline_name[:250],
        "train_rows": result.train_rows,
        "test_rows": int(result.y_test.size),
        "n_features": len(result.spec.names),
    }


def _metric_pairs(result: ModelResult) -> dict[str, float]:
    """`test_<m>` and `baseline_<m>` side by side, plus per-slice model figures."""
    values: dict[str, float] = {}
    for key, value in result.metrics.to_dict().items():
        values[f"test_{key}"] = value
    for key, value in result.baseline_metrics.to_dict().items():
        values[f"baseline_{key}"] = value
    for column, table in result.slices.items():
        for slice_value, row in table.iterrows():
            for metric in ("roc_auc", "brier", "ece"):
                if metric in row and pd.notna(row[metric]):
                    values[f"slice_{column}_{_metric_key(slice_value)}_{metric}"] = float(
                        row[metric]
                    )
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def _metric_key(value: Any) -> str:
    text = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(value))
    return text[:60] or "blank"


def _log_baseline(result: ModelResult, work: Path) -> None:
    """The baseline beside the model, in a safe format (JSON or skops)."""
    import mlflow
    from sklearn.pipeline import Pipeline

    from training.baselines import save_json_baseline, save_skops_baseline

    baseline = result.baseline
    if hasattr(baseline, "to_dict"):
        mlflow.log_artifact(str(save_json_baseline(baseline, work / "baseline.json")), "baseline")
    elif isinstance(baseline, Pipeline):
        mlflow.log_artifact(str(save_skops_baseline(baseline, work / "baseline.skops")), "baseline")


def _holdout_frame(result: ModelResult) -> pd.DataFrame:
    assert result.test_features is not None
    frame = result.test_features.reset_index(drop=True).copy()
    frame[LABEL_COLUMN] = np.asarray(result.y_test).astype(int)
    return frame


def _sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def _integers_as_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns declared as doubles: a missing value at serving time turns an
    integer column into floats, which an integer signature would refuse (MLflow
    accepts ints where doubles are declared)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_integer_dtype(out[column]) and not pd.api.types.is_bool_dtype(
            out[column]
        ):
            out[column] = out[column].astype("Float64").astype("float64")
    return out


def _json_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """An input example MLflow can write as JSON: missing values as None."""
    out = frame.reset_index(drop=True).astype(object)
    return out.where(out.notna(), None)  # type: ignore[call-overload,no-any-return]


def _requirements() -> list[str]:
    from importlib.metadata import version

    packages = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy")
    return [f"{p}=={version(p)}" for p in packages]


def _float(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC).isoformat(timespec="seconds")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "GATE_RULES",
    "GateDecision",
    "GateRule",
    "ModelRegistry",
    "PromotionRefused",
    "RegisteredVersion",
    "RegistryError",
    "artifact_root",
    "default_tracking_uri",
    "gate",
    "resolve_tracking_uri",
]
