"""Reasons behind each prediction, in business language.

LightGBM's per-feature contributions (TreeSHAP, on the log-odds scale) say
how much each feature pushed this prediction up or down. Each model module
maps its features to `BusinessPhrase`s; a numeric feature is described as
high or low against its training median, a yes/no feature by its value, a
category by its label and value. Contributions are on the raw (pre-
calibration) score: calibration is monotone, so the direction holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from training.encoding import FrameEncoder
from training.pipelines import CalibratedLGBMClassifier


@dataclass(frozen=True)
class BusinessPhrase:
    """How to say a feature's value to a sales user.

    Numeric/boolean features use `high` / `low` (above or below the training
    median; True / False). Categorical features use `label` ("Lead source")
    and render as "Lead source: google".
    """

    high: str = ""
    low: str = ""
    label: str = ""


@dataclass(frozen=True)
class Reason:
    feature: str
    phrase: str
    contribution: float  # log-odds pushed by this feature

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "phrase": self.phrase, "contribution": self.contribution}


@dataclass(frozen=True)
class Explanation:
    probability: float
    positive: tuple[Reason, ...]  # strongest first
    negative: tuple[Reason, ...]  # strongest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "probability": self.probability,
            "positive": [r.to_dict() for r in self.positive],
            "negative": [r.to_dict() for r in self.negative],
        }


def describe(
    encoder: FrameEncoder,
    feature: str,
    encoded_value: float,
    phrases: Mapping[str, BusinessPhrase],
) -> str:
    """The business sentence for one feature's value in one row."""
    phrase = phrases.get(feature, BusinessPhrase(label=feature.replace("_", " ")))
    if feature in encoder.categorical:
        label = phrase.label or feature.replace("_", " ")
        value = encoder.category_label(feature, encoded_value)
        return f"{label}: {value if value is not None else 'not given'}"
    if not np.isfinite(encoded_value):
        return f"{phrase.label or feature.replace('_', ' ')}: not given"
    if feature in encoder.boolean:
        return phrase.high if encoded_value >= 0.5 else phrase.low
    median = encoder.medians_.get(feature, float("nan"))
    is_high = encoded_value > median if np.isfinite(median) else encoded_value > 0
    text = phrase.high if is_high else phrase.low
    return text or f"{feature.replace('_', ' ')} {'high' if is_high else 'low'}"


def explain_predictions(
    pipeline: Pipeline,
    frame: Any,
    phrases: Mapping[str, BusinessPhrase],
    top_k: int = 3,
    min_abs_contribution: float = 0.01,
) -> list[Explanation]:
    """Top positive and negative factors of each row's prediction."""
    encoder = pipeline.named_steps["encode"]
    model = pipeline.named_steps["model"]
    if not isinstance(encoder, FrameEncoder) or not isinstance(model, CalibratedLGBMClassifier):
        raise TypeError("explanations need a FrameEncoder + CalibratedLGBMClassifier pipeline")
    encoded = encoder.transform(frame)
    contributions = model.contributions(encoded)[:, :-1]  # last column is the bias
    probabilities = model.predict_proba(encoded)[:, 1]
    names = list(encoder.get_feature_names_out())
    explanations = []
    for row, (values, pushes) in enumerate(zip(encoded, contributions, strict=True)):
        order = np.argsort(-np.abs(pushes), kind="stable")
        positive: list[Reason] = []
        negative: list[Reason] = []
        for j in order:
            push = float(pushes[j])
            if abs(push) < min_abs_contribution:
                break
            bucket = positive if push > 0 else negative
            if len(bucket) < top_k:
                bucket.append(
                    Reason(names[j], describe(encoder, names[j], values[j], phrases), push)
                )
        explanations.append(
            Explanation(float(probabilities[row]), tuple(positive), tuple(negative))
        )
    return explanations


def with_labels(
    phrases: Mapping[str, BusinessPhrase], labels: Mapping[str, str]
) -> dict[str, BusinessPhrase]:
    """`phrases` with a `label` for each feature in `labels` that has none."""
    out = dict(phrases)
    for name, label in labels.items():
        phrase = out.get(name, BusinessPhrase())
        out[name] = phrase if phrase.label else replace(phrase, label=label)
    return out
