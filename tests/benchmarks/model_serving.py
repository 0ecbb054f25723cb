"""Model-serving benchmark, side by side:

1. online features: Feast's stock `get_online_features` vs the serving fast
   path (a direct read of the same keys from the SQLite online store, plus the
   on-demand features computed by Feast's registered transformation), on the
   feature store's sample dataset; checks both return the same values;
2. prediction on one row: MLflow's pyfunc wrapper (`mlflow.pyfunc.load_model`)
   vs the natively loaded LightGBM booster + calibrator (`NativePipeline`), on
   a tiny registered model; checks both give the same probability.

Ends with one JSON line of the figures. `--smoke` uses fewer repeats.

    .venv/bin/python tests/benchmarks/model_serving.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("FEAST_USAGE", "False")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
_TESTS = str(Path(__file__).resolve().parents[1])  # tests/ for shared helpers
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = _TESTS  # run as a script: tests/benchmarks/serving.py would shadow `serving`
else:
    sys.path.insert(0, _TESTS)


def _median_ms(call: Callable[[], Any], repeats: int) -> float:
    call()  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def online_features(root: Path, repeats: int) -> list[dict[str, Any]]:
    from _serving_models import SAMPLE_END, build_sample_feature_store

    from serving.adapters.online_store import FeastOnlineFeatures, SqliteOnlineFeatures

    repo = build_sample_feature_store(root / "repo")
    direct, stock = SqliteOnlineFeatures(repo), FeastOnlineFeatures(repo)
    now = dt.datetime.fromisoformat(SAMPLE_END)
    cases = {
        "attainment_v1": [{"rep_id": r} for r in ("r1", "r2", "r3")],
        "deal_risk_v1": [{"opportunity_id": o} for o in ("o1", "o2", "o3", "o4", "o5")],
    }
    runs = []
    for service, keys in cases.items():
        for size in (1, len(keys)):
            rows = keys[:size]
            same = direct.online_features(service, rows, now) == stock.online_features(
                service, rows, now
            )
            feast_ms = _median_ms(
                lambda s=service, r=rows: stock.online_features(s, r, now), repeats
            )
            direct_ms = _median_ms(
                lambda s=service, r=rows: direct.online_features(s, r, now), repeats
            )
            runs.append(
                {
                    "service": service,
                    "entities": size,
                    "feast_ms": round(feast_ms, 3),
                    "direct_ms": round(direct_ms, 3),
                    "speedup": round(feast_ms / direct_ms, 1),
                    "same_values": same,
                }
            )
    return runs


def prediction(root: Path, repeats: int) -> dict[str, Any]:
    import mlflow
    import pandas as pd
    from _serving_models import register_tiny_model

    from serving.adapters.mlflow_models import MlflowModelProvider

    uri = f"sqlite:///{root / 'mlflow.db'}"
    version = register_tiny_model(uri, "deal_risk", root, n_estimators=100)
    mlflow.set_registry_uri(uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/deal_risk/{version}")
    from mlflow.tracking import MlflowClient

    MlflowClient(uri, uri).set_registered_model_alias("deal_risk", "champion", version)
    native = MlflowModelProvider(uri, ["deal_risk"], "champion", root / "cache", 0).start()
    model = native.get("deal_risk")
    row = pd.DataFrame(
        [{"stage_index": 3.0, "age_days": 12.0, "product_list_price_minor": 50000.0,
          "lead_source": "web", "product_id": "p1"}]
    )  # fmt: skip
    same = abs(float(pyfunc.predict(row)[0]) - float(model.predict(row)[0])) < 1e-12
    pyfunc_ms = _median_ms(lambda: pyfunc.predict(row), repeats)
    native_ms = _median_ms(lambda: model.predict(row), repeats)
    pipeline = getattr(model, "pipeline", None)
    assert pipeline is not None
    encoded = pipeline.encode(row)
    booster_ms = _median_ms(
        lambda: pipeline.booster.predict(encoded, raw_score=True, num_threads=1), repeats
    )
    return {
        "pyfunc_ms": round(pyfunc_ms, 3),
        "native_ms": round(native_ms, 3),
        "booster_only_ms": round(booster_ms, 3),
        "speedup": round(pyfunc_ms / native_ms, 1),
        "same_probability": same,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    repeats = 5 if args.smoke else 200
    with tempfile.TemporaryDirectory(prefix="spm-model-bench-") as tmp:
        root = Path(tmp)
        figures = {
            "online_features": online_features(root, repeats),
            "prediction_one_row": prediction(root, repeats),
        }
    for run in figures["online_features"]:
        print(
            f"{run['service']:>15} {run['entities']:>3} entities: feast {run['feast_ms']:8.3f} ms"
            f"  direct {run['direct_ms']:8.3f} ms  x{run['speedup']}  same={run['same_values']}",
            file=sys.stderr,
        )
    p = figures["prediction_one_row"]
    print(
        f"one-row predict: pyfunc {p['pyfunc_ms']} ms, native {p['native_ms']} ms "
        f"(x{p['speedup']}), booster alone {p['booster_only_ms']} ms",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
