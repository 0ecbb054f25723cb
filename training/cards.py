"""Model cards: one markdown page per registered model version.

Data, features, excluded columns and why, metrics against the baseline on the
same held-out rows, per-slice figures, the plots, the promotion decision and
caveats. Written next to the run's evaluation artifacts (`model_card.md`,
with the plots it links to in the same folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.registry import GateDecision
    from training.workflows import ModelResult

HEADLINE_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("roc_auc", "ROC-AUC", True),
    ("pr_auc", "PR-AUC", True),
    ("brier", "Brier score", False),
    ("ece", "Expected calibration error", False),
    ("top_decile_lift", "Lift in the top decile", True),
    ("brier_skill_ratio", "Brier / base-rate Brier", False),
)

GENERAL_CAVEATS: tuple[str, ...] = (
    "Scores are probabilities calibrated on the training data's base rate; "
    "a shift in that rate (new market, new lead source) needs a retrain.",
    "Figures are from one held-out split; small slices (under 30 rows are pooled "
    "as '(other)') have wide uncertainty.",
    "A model explains association, not cause: a feature's effect is not a lever.",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    number = float(value)
    return "n/a" if math.isnan(number) else f"{number:.4f}"


def _metric_rows(model: Mapping[str, float], baseline: Mapping[str, float]) -> list[str]:
    rows = ["| metric | model | baseline | better |", "|---|---:|---:|---|"]
    for key, label, higher in HEADLINE_METRICS:
        mine, theirs = model.get(key), baseline.get(key)
        better = "n/a"
        if mine is not None and theirs is not None and not math.isnan(float(mine)):
            wins = float(mine) > float(theirs) if higher else float(mine) < float(theirs)
            better = "model" if wins else "baseline"
        rows.append(f"| {label} | {_fmt(mine)} | {_fmt(theirs)} | {better} |")
    return rows


def _slice_section(result: ModelResult, limit: int = 12) -> list[str]:
    lines: list[str] = []
    for column, table in result.slices.items():
        lines += ["", f"### By `{column}` (model)", ""]
        lines += [
            "| value | rows | positive rate | ROC-AUC | Brier | ECE |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        ordered = table.sort_values("n", ascending=False) if "n" in table.columns else table
        for value, row in ordered.head(limit).iterrows():
            lines.append(
                f"| {value} | {int(row.get('n', 0))} | {_fmt(row.get('positive_rate'))} | "
                f"{_fmt(row.get('roc_auc'))} | {_fmt(row.get('brier'))} | {_fmt(row.get('ece'))} |"
            )
        if len(table) > limit:
            lines.append(f"| … {len(table) - limit} more in `slices_{column}.csv` | | | | | |")
    return lines


def render_model_card(
    result: ModelResult,
    *,
    name: str,
    version: str,
    feature_service: str,
    run_id: str,
    decision: GateDecision | None = None,
    data_source: str = "",
    extra_caveats: Sequence[str] = (),
) -> str:
    """The markdown card of one registered version."""
    spec = result.spec
    lines = [
        f"# Model card: `{name}` version {version}",
        "",
        f"Registered as `models:/{name}/{version}` (MLflow run `{run_id}`).",
        "",
        "## Data",
        "",
        f"- Dataset: **{result.dataset}**" + (f" (read from {data_source})" if data_source else ""),
        f"- Feature service contract: `{feature_service}`",
        f"- Split: {result.split}",
        f"- Rows: {result.train_rows} training, {int(result.y_test.size)} held out; "
        f"held-out positive rate {_fmt(result.metrics.positive_rate)}",
        "- Synthetic (seeded) rows never train a model; only the source's real rows do.",
        "",
        "## Features",
        "",
        f"- Numeric: {', '.join(f'`{c}`' for c in spec.numeric) or 'none'}",
        f"- Yes/no: {', '.join(f'`{c}`' for c in spec.boolean) or 'none'}",
        f"- Categorical: {', '.join(f'`{c}`' for c in spec.categorical) or 'none'}",
    ]
    if spec.increasing:
        lines.append(f"- Monotone increasing: {', '.join(f'`{c}`' for c in spec.increasing)}")
    lines += ["", "## Excluded columns and why", ""]
    if spec.excluded:
        lines += ["| column | why it is not a feature |", "|---|---|"]
        lines += [f"| `{col}` | {why} |" for col, why in sorted(spec.excluded.items())]
    else:
        lines.append("None declared.")
    lines += [
        "",
        "## Metrics on the held-out rows",
        "",
        f"Baseline: {result.baseline_name}, trained on the same training rows.",
        "",
        *_metric_rows(result.metrics.to_dict(), result.baseline_metrics.to_dict()),
    ]
    if result.goals:
        lines += [
            "",
            "Goals: "
            + ", ".join(f"{g}: {'met' if ok else 'NOT met'}" for g, ok in result.goals.items()),
        ]
    lines += ["", "## Slices", *_slice_section(result)]
    lines += [
        "",
        "## Plots",
        "",
        "![calibration](calibration.png)",
        "",
        "![lift](lift.png)",
        "",
        "## Promotion",
        "",
    ]
    if decision is None:
        lines.append("Not evaluated by the promotion gate yet.")
    else:
        champion = (
            f"champion version {decision.champion_version}"
            if decision.champion_version
            else "no champion yet"
        )
        lines.append(
            f"Gate: primary `{decision.rule.primary}` strictly better, guard `{decision.rule.guard}` "
            f"no worse, against the baseline and the champion ({champion}) on these held-out rows: "
            + ("**passed** (champion)." if decision.passed else "**refused**.")
        )
        lines += [f"- {reason}" for reason in decision.reasons]
    lines += ["", "## Caveats", ""]
    lines += [f"- {c}" for c in (*extra_caveats, *GENERAL_CAVEATS)]
    return "\n".join(lines) + "\n"


__all__ = ["render_model_card"]
