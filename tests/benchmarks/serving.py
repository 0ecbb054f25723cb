"""Serving benchmark: one registered deal_risk-shaped model, four ways, same run.

(a) the floor: the natively loaded LightGBM booster + calibrator predicting on
    an encoded numpy row, in process (`NativePipeline.probabilities`);
(b) a bare Starlette app around (a), served by uvicorn on 127.0.0.1
    (a subprocess of this script: `--starlette-app`);
(c) our service: a real `spm serve` (BentoML) scoring `/v1/score/deal` by id
    (features read from the online store, request-time features computed,
    factors included) and by record;
(d) `mlflow models serve -m models:/deal_risk@champion --env-manager local`
    on the same registered version (nothing downloaded: the local environment).

For each: p50/p99 latency of single-record requests at concurrency 1 and 8
(an asyncio httpx client with keep-alive, loopback only) and rows/s for
batches of 1,000 rows. Prints a table with the ratios and the issue's three
goals (met / not met), then one JSON line of figures. Checks that (b), (c) and
(d) return (a)'s probability for the same entity, and that (c) by record
equals (c) by id. Bounded: free ports, timeouts on every call, every
subprocess group killed in `finally`.

This module shares its name with the `serving` package. tests/benchmarks/ is a
package (`__init__.py`), so pytest puts tests/ on sys.path, not this folder,
and run as a script every benchmark here swaps its own folder on sys.path[0]
for tests/, so `import serving` always finds the real package.

    .venv/bin/python tests/benchmarks/serving.py            # full size
    .venv/bin/python tests/benchmarks/serving.py --smoke    # tiny, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TELEMETRY_OFF = {
    "BENTOML_DO_NOT_TRACK": "true",
    "FEAST_USAGE": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}
for _name, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)
TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(TESTS_DIR)  # run as a script: this folder would shadow `serving`
else:
    sys.path.insert(0, str(TESTS_DIR))  # _serving_models, _serving_support

MODEL_NAME = "deal_risk"
REQUEST_TIME = "2024-03-06T00:00:00+00:00"  # the sample store's materialization end
STARTUP_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 60.0
STAGES = ("proposal", "prospecting", "negotiation", "won", "lost")


@dataclass(frozen=True)
class Size:
    train_rows: int
    trees: int
    entities: int  # deals in the online store (and the batch size)
    single_requests: int  # per concurrency level
    batch_requests: int
    warmup: int


FULL = Size(
    train_rows=4000, trees=300, entities=1000, single_requests=600, batch_requests=20, warmup=50
)
SMOKE = Size(train_rows=600, trees=30, entities=40, single_requests=24, batch_requests=2, warmup=4)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server subprocess in its own process group, with its log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_server(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    port: int,
    ready_path: str,
    log_dir: Path,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> Iterator[Server]:
    """Start `command`, wait (bounded) until GET ready_path answers 200, yield;
    always stop the whole process group (SIGTERM, then SIGKILL)."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        server = Server(name, url, process, log_path)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}:\n{server.log_tail()}"
                    )
                try:
                    if httpx.get(url + ready_path, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} not ready after {timeout_s:.0f}s:\n{server.log_tail()}"
                    )
                time.sleep(0.25)
            yield server
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            # workers that outlived their parent (same group): never leave them behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def process_tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (psutil)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


# ---------------------------------------------------------------- set-up


def scaled_canonical_tables(entities: int) -> dict[str, Any]:
    """The feature store's sample dataset plus `entities` more deals (d00000...),
    cycling stages, lead sources, products and creation times."""
    import pandas as pd

    from features.sample_data import sample_canonical_tables

    tables = sample_canonical_tables()
    sample = tables["opportunities"]
    start = pd.Timestamp("2024-01-01", tz="UTC")
    clones = []
    for i in range(entities):
        row = sample.iloc[i % len(sample)].copy()
        stage = STAGES[i % len(STAGES)]
        row["opportunity_id"] = f"d{i:05d}"
        row["stage"] = stage
        row["outcome"] = stage if stage in ("won", "lost") else "open"
        row["created_at"] = start + pd.Timedelta(minutes=67 * i)
        row["closed_at"] = (
            row["created_at"] + pd.Timedelta(days=3) if stage in ("won", "lost") else None
        )
        row["lead_source"] = ("web", "referral", "event", "google")[i % 4]
        row["product_id"] = ("p1", "p2")[(i // 3) % 2]
        clones.append(row)
    tables["opportunities"] = pd.concat([sample, pd.DataFrame(clones)], ignore_index=True)
    return tables


def build_feature_store(repo: Path, entities: int) -> Path:
    from _serving_models import SAMPLE_BUILT, SAMPLE_END

    from features import feature_store
    from features.sample_data import InMemoryCanonicalStore

    feature_store.build_feature_tables(
        InMemoryCanonicalStore(scaled_canonical_tables(entities)),
        repo,
        created=dt.datetime.fromisoformat(SAMPLE_BUILT),
    )
    feature_store.apply(repo)
    feature_store.materialize(repo, dt.datetime.fromisoformat(SAMPLE_END))
    return repo


def train_and_register(root: Path, uri: str, size: Size) -> tuple[str, Path]:
    """A deal_risk-shaped model trained with training's own pipeline on
    `size.train_rows` rows and `size.trees` trees, saved in the artifact layout,
    logged and registered as training does, aliased champion. Returns
    (version, local artifact directory)."""
    from _serving_models import DEAL_CATEGORICAL, DEAL_NUMERIC, deal_frame, register_pipeline
    from mlflow.tracking import MlflowClient

    from training.encoding import FeatureSpec
    from training.pipelines import build_pipeline, save_pipeline

    spec = FeatureSpec(numeric=DEAL_NUMERIC, categorical=DEAL_CATEGORICAL)
    frame, labels = deal_frame(rows=size.train_rows, seed=7)
    pipeline = build_pipeline(
        spec, {"n_estimators": size.trees, "calibration_folds": 3}, min_category_count=1
    ).fit(frame, labels)
    artifact = save_pipeline(pipeline, root / "pipeline", {"model": MODEL_NAME})
    version = register_pipeline(uri, MODEL_NAME, artifact, root, experiment="serving-bench")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_registered_model_alias(MODEL_NAME, "champion", version)
    return version, artifact


@dataclass
class Setup:
    """Everything the four targets share: the model, the store, the inputs."""

    root: Path
    size: Size
    tracking_uri: str
    version: str
    artifact: Path
    feature_repo: Path
    data_dir: Path
    key: str  # a service-role API key of our service
    ids: list[str]
    feature_rows: list[dict[str, Any]]  # the online store's rows for ids, at REQUEST_TIME
    records: list[dict[str, Any]]  # the same entities as CRM records (raw timestamps)
    model_records: list[dict[str, Any]]  # the model's input columns only (for mlflow)
    encoded: Any  # numpy matrix of the model's encoded inputs, one row per id
    columns: tuple[str, ...] = field(default=())

    def spm_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(TELEMETRY_OFF)
        env.update(
            SPM_DATA_DIR=str(self.data_dir),
            BENTOML_HOME=str(self.root / "bentoml"),
            SPM_SERVING_MLFLOW_TRACKING_URI=self.tracking_uri,
            SPM_SERVING_FEATURE_REPO=str(self.feature_repo),
            SPM_SERVING_MODEL_NAMES=MODEL_NAME,
            SPM_SERVING_REQUIRED_MODELS=MODEL_NAME,
            SPM_SERVING_MAX_REQUEST_BYTES=str(64 * 1024 * 1024),
        )
        return env

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _as_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CRM records for feature rows: the stored features plus the raw timestamps
    the request-time features (ages) are computed from."""
    now = dt.datetime.fromisoformat(REQUEST_TIME)
    records = []
    for row in rows:
        record = {k: v for k, v in row.items() if k not in ("age_days", "days_since_stage_change")}
        for age, stamp in (
            ("age_days", "created_at"),
            ("days_since_stage_change", "last_stage_change_at"),
        ):
            if row.get(age) is not None:
                record[stamp] = (now - dt.timedelta(days=float(row[age]))).isoformat()
        records.append(record)
    return records


def prepare(root: Path, size: Size) -> Setup:
    import pandas as pd
    from _serving_support import write_reps

    from serving.adapters.key_store import SqlKeyStore
    from serving.adapters.native_model import NativePipeline
    from serving.adapters.online_store import SqliteOnlineFeatures
    from serving.security import Role, issue_key
    from serving.settings import load_settings

    uri = f"sqlite:///{root / 'mlflow.db'}"
    version, artifact = train_and_register(root, uri, size)
    repo = build_feature_store(root / "feature_repo", size.entities)
    data_dir = root / "data"
    write_reps(data_dir)
    setup_env = {"SPM_DATA_DIR": str(data_dir)}
    store = SqlKeyStore(load_settings(setup_env).resolved_key_store_url)
    issued = issue_key(Role.SERVICE, None, "serving benchmark")
    store.add(issued.record)
    store.dispose()

    ids = [f"d{i:05d}" for i in range(size.entities)]
    rows = SqliteOnlineFeatures(repo).online_features(
        f"{MODEL_NAME}_v1",
        [{"opportunity_id": i} for i in ids],
        dt.datetime.fromisoformat(REQUEST_TIME),
    )
    pipeline = NativePipeline(artifact)
    # the model reads feature-service columns as they are (as serving's scoring does)
    encoded = pipeline.encode(pd.DataFrame(rows))
    model_records = [{c: row.get(c) for c in pipeline.columns} for row in rows]
    return Setup(
        root=root, size=size, tracking_uri=uri, version=version, artifact=artifact,
        feature_repo=repo, data_dir=data_dir, key=issued.plain_key, ids=ids, feature_rows=rows,
        records=_as_records(rows), model_records=model_records, encoded=encoded,
        columns=pipeline.columns,
    )  # fmt: skip


# ---------------------------------------------------------------- (b): bare Starlette


def starlette_app(model_dir: Path) -> Any:
    """POST /predict {"rows": [[encoded values...], ...]} → {"probabilities": [...]}."""
    import numpy as np
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from serving.adapters.native_model import NativePipeline

    pipeline = NativePipeline(model_dir)

    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        matrix = np.asarray(body["rows"], dtype="float64")
        return JSONResponse({"probabilities": pipeline.probabilities(matrix).tolist()})

    async def ping(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/ping", ping)])


def serve_starlette(model_dir: Path, port: int) -> int:
    import uvicorn

    uvicorn.run(
        starlette_app(model_dir), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    return 0


# ---------------------------------------------------------------- measuring


@dataclass
class Level:
    """One measured load level: latencies in ms, wall time, errors."""

    latencies_ms: list[float]
    wall_s: float
    rows_per_request: int
    errors: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows_per_request

    def summary(self) -> dict[str, float]:
        return {
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "rows_per_s": round(self.rows_per_s, 1),
        }


def measure_in_process(
    call: Callable[[], Any], requests: int, concurrency: int, rows: int
) -> Level:
    """(a): the call itself, `concurrency` threads (LightGBM predicts without the GIL)."""
    for _ in range(min(20, requests)):
        call()
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            started = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result(timeout=600)
    return Level(latencies, time.perf_counter() - started, rows)


Check = Callable[[Any], None]


async def _http_level(
    url: str,
    bodies: Sequence[Any],
    headers: Mapping[str, str],
    requests: int,
    concurrency: int,
    rows: int,
    check: Check | None,
) -> Level:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0
    async with httpx.AsyncClient(
        limits=limits, timeout=REQUEST_TIMEOUT_S, headers=dict(headers)
    ) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < requests:
                body = bodies[next_index % len(bodies)]
                next_index += 1
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    errors.append(f"{response.status_code}: {response.text[:300]}")
                    continue
                if check is not None:
                    check(response.json())
                latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=900)
        wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{url}: {len(errors)} failed request(s), first: {errors[0]}")
    return Level(latencies, wall, rows, len(errors))


def measure_http(
    url: str,
    bodies: Sequence[Any],
    headers: Mapping[str, str],
    requests: int,
    concurrency: int,
    rows: int,
    warmup: int,
    check: Check | None = None,
) -> Level:
    asyncio.run(_http_level(url, bodies, headers, warmup, concurrency, rows, check))
    return asyncio.run(_http_level(url, bodies, headers, requests, concurrency, rows, check))


def post_json(url: str, body: Any, headers: Mapping[str, str] | None = None) -> Any:
    import httpx

    response = httpx.post(url, json=body, headers=dict(headers or {}), timeout=REQUEST_TIMEOUT_S)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:500]}")
    return response.json()


# ---------------------------------------------------------------- the run


def _levels(measure: Callable[[int, int], Level], size: Size) -> dict[str, dict[str, float]]:
    return {
        "c1": measure(1, size.single_requests).summary(),
        "c8": measure(8, size.single_requests * 2).summary(),
    }


def run(setup: Setup, log_dir: Path) -> dict[str, Any]:
    import numpy as np

    from serving.adapters.native_model import NativePipeline

    size = setup.size
    pipeline = NativePipeline(setup.artifact)
    expected = pipeline.probabilities(setup.encoded)  # (a)'s probability per entity
    n = len(setup.ids)
    figures: dict[str, Any] = {
        "size": "smoke" if size == SMOKE else "full",
        "model": {"trees": size.trees, "train_rows": size.train_rows, "inputs": list(setup.columns),
                  "version": setup.version},
        "batch_rows": n,
        "targets": {},
        "correctness": {},
    }  # fmt: skip
    targets = figures["targets"]
    correct = figures["correctness"]

    # (a) the floor, in process
    single_rows = [setup.encoded[i : i + 1] for i in range(n)]
    position = iter(range(10**9))
    targets["a_inprocess"] = _levels(
        lambda c, r: measure_in_process(
            lambda: pipeline.probabilities(single_rows[next(position) % n]), r, c, 1
        ),
        size,
    )
    targets["a_inprocess"]["batch"] = measure_in_process(
        lambda: pipeline.probabilities(setup.encoded), size.batch_requests * 5, 1, n
    ).summary()

    # (b) bare Starlette around (a)
    port = free_port()
    command = [
        sys.executable,
        __file__,
        "--starlette-app",
        str(setup.artifact),
        "--port",
        str(port),
    ]
    with running_server("starlette", command, setup.spm_env(), port, "/ping", log_dir) as server:
        url = server.url + "/predict"
        answer = post_json(url, {"rows": setup.encoded[:5].tolist()})
        correct["b_equals_a"] = bool(
            np.allclose(answer["probabilities"], expected[:5], rtol=0, atol=1e-12)
        )
        bodies = [{"rows": row.tolist()} for row in single_rows]
        targets["b_starlette"] = _levels(
            lambda c, r: measure_http(url, bodies, {}, r, c, 1, size.warmup), size
        )
        targets["b_starlette"]["batch"] = measure_http(
            url, [{"rows": setup.encoded.tolist()}], {}, size.batch_requests, 1, n, 1
        ).summary()

    # (c) our service: spm serve (BentoML), by id and by record
    port = free_port()
    spm = [
        str(Path(sys.executable).with_name("spm")),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running_server("spm-serve", spm, setup.spm_env(), port, "/readyz", log_dir) as server:
        url = server.url + "/v1/score/deal"
        by_id = post_json(url, {"ids": setup.ids, "request_time": REQUEST_TIME}, setup.auth)
        by_record = post_json(
            url, {"records": setup.records, "request_time": REQUEST_TIME}, setup.auth
        )
        got = np.asarray([s["probability"] for s in by_id["scores"]])
        correct["c_equals_a"] = bool(
            [s["id"] for s in by_id["scores"]] == setup.ids
            and np.allclose(got, np.round(expected, 6), rtol=0, atol=1e-9)
        )
        correct["c_max_abs_diff_to_a"] = float(np.max(np.abs(got - expected)))
        correct["c_record_equals_c_id"] = by_record["scores"] == by_id["scores"]
        correct["c_has_factors"] = all(
            s["positive_factors"] or s["negative_factors"] for s in by_id["scores"]
        )
        id_bodies = [{"ids": [i], "request_time": REQUEST_TIME} for i in setup.ids]
        record_bodies = [{"records": [r], "request_time": REQUEST_TIME} for r in setup.records]
        targets["c_ours_by_id"] = _levels(
            lambda c, r: measure_http(url, id_bodies, setup.auth, r, c, 1, size.warmup), size
        )
        targets["c_ours_by_id"]["batch"] = measure_http(
            url, [{"ids": setup.ids, "request_time": REQUEST_TIME}], setup.auth,
            size.batch_requests, 1, n, 1,
        ).summary()  # fmt: skip
        targets["c_ours_by_record"] = _levels(
            lambda c, r: measure_http(url, record_bodies, setup.auth, r, c, 1, size.warmup), size
        )
        targets["c_ours_by_record"]["batch"] = measure_http(
            url, [{"records": setup.records, "request_time": REQUEST_TIME}], setup.auth,
            size.batch_requests, 1, n, 1,
        ).summary()  # fmt: skip

    # (d) mlflow models serve on the same registered version
    port = free_port()
    env = setup.spm_env()
    env.update(MLFLOW_TRACKING_URI=setup.tracking_uri, MLFLOW_REGISTRY_URI=setup.tracking_uri)
    # mlflow execs `uvicorn` from PATH: the venv's own, never anything installed on the fly
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    mlflow_cmd = [
        str(Path(sys.executable).with_name("mlflow")), "models", "serve",
        "-m", f"models:/{MODEL_NAME}@champion", "--env-manager", "local",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with running_server("mlflow-serve", mlflow_cmd, env, port, "/ping", log_dir) as server:
        url = server.url + "/invocations"
        answer = post_json(url, {"dataframe_records": setup.model_records})
        predictions = np.asarray(answer["predictions"], dtype="float64")
        correct["d_equals_a"] = bool(np.allclose(predictions, expected, rtol=0, atol=1e-9))
        bodies = [{"dataframe_records": [r]} for r in setup.model_records]
        targets["d_mlflow"] = _levels(
            lambda c, r: measure_http(url, bodies, {}, r, c, 1, size.warmup), size
        )
        targets["d_mlflow"]["batch"] = measure_http(
            url, [{"dataframe_records": setup.model_records}], {}, size.batch_requests, 1, n, 1
        ).summary()

    a, b, c, d = (targets[k] for k in ("a_inprocess", "b_starlette", "c_ours_by_id", "d_mlflow"))
    ratios = {
        "c_p50_over_b_p50_c1": round(c["c1"]["p50_ms"] / b["c1"]["p50_ms"], 3),
        "c_p50_over_b_p50_c8": round(c["c8"]["p50_ms"] / b["c8"]["p50_ms"], 3),
        "c_rps_over_d_rps_c1": round(c["c1"]["requests_per_s"] / d["c1"]["requests_per_s"], 3),
        "c_rps_over_d_rps_c8": round(c["c8"]["requests_per_s"] / d["c8"]["requests_per_s"], 3),
        "c_batch_over_a_batch": round(c["batch"]["rows_per_s"] / a["batch"]["rows_per_s"], 4),
        "c_record_batch_over_a_batch": round(
            targets["c_ours_by_record"]["batch"]["rows_per_s"] / a["batch"]["rows_per_s"], 4
        ),
        "d_batch_over_a_batch": round(d["batch"]["rows_per_s"] / a["batch"]["rows_per_s"], 4),
    }
    figures["ratios"] = ratios
    figures["goals"] = {
        "c_p50_le_1_5x_b": ratios["c_p50_over_b_p50_c1"] <= 1.5,
        "c_single_throughput_ge_5x_d": ratios["c_rps_over_d_rps_c8"] >= 5.0,
        "c_batch_ge_50pct_a": ratios["c_batch_over_a_batch"] >= 0.5,
    }
    figures["correct"] = all(bool(v) for k, v in correct.items() if not k.endswith("diff_to_a"))
    return figures


def print_table(figures: dict[str, Any]) -> None:
    out = sys.stderr
    print(
        f"model: {figures['model']['trees']} trees on {figures['model']['train_rows']} rows; "
        f"batch {figures['batch_rows']} rows; single-record requests",
        file=out,
    )
    header = f"{'target':<18}{'c1 p50':>9}{'c1 p99':>9}{'c1 req/s':>10}{'c8 p50':>9}{'c8 p99':>9}{'c8 req/s':>10}{'batch rows/s':>14}"
    print(header, file=out)
    for name, t in figures["targets"].items():
        print(
            f"{name:<18}{t['c1']['p50_ms']:>9.3f}{t['c1']['p99_ms']:>9.3f}{t['c1']['requests_per_s']:>10.0f}"
            f"{t['c8']['p50_ms']:>9.3f}{t['c8']['p99_ms']:>9.3f}{t['c8']['requests_per_s']:>10.0f}"
            f"{t['batch']['rows_per_s']:>14.0f}",
            file=out,
        )
    for name, value in figures["ratios"].items():
        print(f"  {name}: {value}", file=out)
    goals = figures["goals"]
    r = figures["ratios"]
    print(
        f"goal (c) p50 <= 1.5x (b) [c1]:           {r['c_p50_over_b_p50_c1']:>8}x  "
        f"{'met' if goals['c_p50_le_1_5x_b'] else 'NOT MET'}\n"
        f"goal (c) >= 5x (d) single-record req/s [c8]: {r['c_rps_over_d_rps_c8']:>8}x  "
        f"{'met' if goals['c_single_throughput_ge_5x_d'] else 'NOT MET'}\n"
        f"goal (c) batch >= 50% of (a):           {r['c_batch_over_a_batch']:>8}  "
        f"{'met' if goals['c_batch_ge_50pct_a'] else 'NOT MET'}",
        file=out,
    )
    print(f"correctness: {figures['correctness']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--starlette-app", type=Path, help=argparse.SUPPRESS)  # (b)'s process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.starlette_app is not None:
        return serve_starlette(args.starlette_app, args.port)
    size = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="spm-serving-bench-") as tmp:
        root = Path(tmp)
        setup = prepare(root, size)
        figures = run(setup, root)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print_table(figures)
    print(json.dumps(figures))
    return 0 if figures["correct"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
