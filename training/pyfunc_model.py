"""The MLflow pyfunc of a registered model, logged as CODE (models-from-code).

MLflow executes this file when a model version is loaded and reads the model
from the version's artifacts: `pipeline/` holds LightGBM's native model text
plus the encoder/calibrator JSON written by `training.pipelines.save_pipeline`.
Nothing is pickled (no cloudpickle of a Python object). Do not import this
module from other code: the `set_model` call at the bottom is MLflow's
models-from-code hook and runs on import by design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

PIPELINE_ARTIFACT = "pipeline"


class SavedPipelineModel(PythonModel):
    """Calibrated probability of the positive class for each input row."""

    def load_context(self, context: PythonModelContext) -> None:
        from training.pipelines import load_pipeline

        self.pipeline = load_pipeline(Path(context.artifacts[PIPELINE_ARTIFACT]))

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(model_input)[:, 1], dtype="float64")


mlflow.models.set_model(SavedPipelineModel())
