"""`lead_scoring`: probability that an inbound lead converts (X Education leads).

Input: the `lead_scoring_v1` feature service (X Education's extra answers are
its `attr_<snake_case_name>` columns), joined point-in-time onto labelled
leads by `features.training_sets.lead_entities`. Only what the lead told us or
did on the website before a sales conversation is used.

Excluded, because a salesperson fills them in after talking to the lead, so
they encode the outcome (see the dataset's SOURCE.md): `attr_tags` (status
notes such as "Closed by Horizzon", 99 % converted), `attr_lead_quality`
(the rep's judgement), `attr_lead_profile`, the four `attr_asymmetrique_*`
indices and scores (assigned by staff).

`last_activity` / `attr_last_notable_activity` are excluded and not served by
the feature service: the export does not say when the activity happened, and
values such as "SMS Sent", "Had a Phone Conversation" or "Converted to Lead"
are sales actions, i.e. post-contact (measured ablation: docs/models.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.encoding import FeatureSpec
from training.explain import BusinessPhrase, with_labels

MODEL_NAME = "lead_scoring"
LABEL = "converted"
PLACEHOLDERS = ("select",)  # the web form's "not answered"

LEAKING_COLUMNS: dict[str, str] = {
    "attr_tags": "sales-team status notes written after contact (e.g. 'Closed by Horizzon')",
    "attr_lead_quality": "the rep's judgement after talking to the lead",
    "attr_lead_profile": "profile assigned by sales after contact",
    "attr_asymmetrique_activity_index": "staff-assigned score after contact",
    "attr_asymmetrique_profile_index": "staff-assigned score after contact",
    "attr_asymmetrique_activity_score": "staff-assigned score after contact",
    "attr_asymmetrique_profile_score": "staff-assigned score after contact",
    "last_activity": "not timestamped; many values are sales actions after contact",
    "attr_last_notable_activity": "not timestamped; many values are sales actions after contact",
    "attr_lead_number": "an id, not a property of the lead",
    "converted_at": "only known after conversion",
}

SPEC = FeatureSpec(
    numeric=("total_visits", "time_on_site_seconds", "page_views_per_visit"),
    boolean=(
        "do_not_email",
        "do_not_call",
        "attr_a_free_copy_of_mastering_the_interview",
        "attr_search",
        "attr_newspaper_article",
        "attr_x_education_forums",
        "attr_newspaper",
        "attr_digital_advertisement",
        "attr_through_recommendations",
    ),
    categorical=(
        "lead_origin",
        "lead_source",
        "country",
        "city",
        "occupation",
        "attr_specialization",
        "attr_how_did_you_hear_about_x_education",
        "attr_what_matters_most_to_you_in_choosing_a_course",
    ),
    # More engagement never lowers the score (a product rule; +0.001 CV ROC-AUC).
    increasing=("time_on_site_seconds", "total_visits"),
    excluded=LEAKING_COLUMNS,
    missing_values=PLACEHOLDERS,
)

# Chosen by cross-validation on the training split only (5 folds x 2 repeats;
# 600 trees = early stopping at this learning rate; docs/models.md).
PARAMS: dict[str, Any] = {
    "n_estimators": 600,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 50,
    "cat_smooth": 50.0,
    "calibration": "isotonic",
}

SLICE_COLUMNS = ("lead_source", "lead_origin", "occupation")

PHRASES: dict[str, BusinessPhrase] = {
    "total_visits": BusinessPhrase("Visited the website often", "Visited the website rarely"),
    "time_on_site_seconds": BusinessPhrase(
        "Spent a lot of time on the website", "Spent little time on the website"
    ),
    "page_views_per_visit": BusinessPhrase(
        "Viewed many pages per visit", "Viewed few pages per visit"
    ),
    "do_not_email": BusinessPhrase("Opted out of e-mail", "Accepts e-mail"),
    "do_not_call": BusinessPhrase("Opted out of calls", "Accepts calls"),
    "attr_a_free_copy_of_mastering_the_interview": BusinessPhrase(
        "Asked for the free interview guide", "Did not ask for the free interview guide"
    ),
    "attr_search": BusinessPhrase("Saw a search ad", "Did not see a search ad"),
    "attr_newspaper_article": BusinessPhrase("Read the newspaper article", "No newspaper article"),
    "attr_x_education_forums": BusinessPhrase("Came via the forums", "Not via the forums"),
    "attr_newspaper": BusinessPhrase("Saw a newspaper ad", "No newspaper ad"),
    "attr_digital_advertisement": BusinessPhrase("Saw a digital ad", "No digital ad"),
    "attr_through_recommendations": BusinessPhrase(
        "Came through a recommendation", "Not recommended by anyone"
    ),
    "lead_origin": BusinessPhrase(label="Came in through"),
    "lead_source": BusinessPhrase(label="Lead source"),
    "country": BusinessPhrase(label="Country"),
    "city": BusinessPhrase(label="City"),
    "occupation": BusinessPhrase(label="Occupation"),
    "attr_specialization": BusinessPhrase(label="Specialisation"),
    "attr_how_did_you_hear_about_x_education": BusinessPhrase(label="Heard about us through"),
    "attr_what_matters_most_to_you_in_choosing_a_course": BusinessPhrase(
        label="What matters most to them"
    ),
    "last_activity": BusinessPhrase(label="Last activity"),
    "attr_last_notable_activity": BusinessPhrase(label="Last notable activity"),
}

# What a value is called when it is shown as such ("Deal size: not given").
PHRASES = with_labels(
    PHRASES,
    {
        "total_visits": "Website visits",
        "time_on_site_seconds": "Time on the website",
        "page_views_per_visit": "Pages per visit",
        "do_not_email": "E-mail opt-out",
        "do_not_call": "Call opt-out",
        "attr_a_free_copy_of_mastering_the_interview": "Free interview guide",
        "attr_search": "Search ad",
        "attr_newspaper_article": "Newspaper article",
        "attr_x_education_forums": "Forums",
        "attr_newspaper": "Newspaper ad",
        "attr_digital_advertisement": "Digital ad",
        "attr_through_recommendations": "Recommendation",
    },
)


def prepare_features(frame: pd.DataFrame, spec: FeatureSpec = SPEC) -> pd.DataFrame:
    """The spec's columns of a lead_scoring training set (the encoder treats the
    form's placeholders as missing, in training and in serving alike)."""
    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise ValueError(f"lead_scoring training set: missing feature columns {missing}")
    return frame.loc[:, list(spec.names)].copy()


def labels(frame: pd.DataFrame) -> np.ndarray:
    """The `converted` label (0/1); an empty value (open lead) is an error."""
    if LABEL not in frame.columns:
        raise ValueError(f"lead_scoring training set: missing label column {LABEL!r}")
    values = frame[LABEL]
    if values.isna().any():
        row = values.index[values.isna().to_numpy()][0]
        raise ValueError(f"lead_scoring training set row {row}: {LABEL!r} is empty (open lead)")
    return values.astype(bool).to_numpy().astype(int)
