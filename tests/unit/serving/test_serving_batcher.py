"""The score batcher without a server: what it merges, what it keeps apart, and
that every request gets its own rows or its own error; its settings."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from serving.batching import BatchingConfig, ModelBatcher, ScoreBatching, _Job
from serving.settings import SettingsError, load_settings


class FakePipeline:
    """explain: 2 x value per row; a value 'bad' is refused, like an unreadable record."""

    columns = ("value",)

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def explain(self, frame: pd.DataFrame) -> list[tuple[float, list[Any], list[Any]]]:
        with self.lock:
            self.calls.append(len(frame))
        out = []
        for value in frame["value"].tolist():
            if value == "bad":
                raise ValueError("feature 'value': 'bad' is not a number")
            out.append((float(value) * 2, [str(frame["value"].dtype)], []))
        return out


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def batcher(loop: asyncio.AbstractEventLoop | None = None, size: int = 8) -> ModelBatcher:
    return ModelBatcher("m", BatchingConfig(True, size, 200), loop or asyncio.new_event_loop())


def test_alike_frames_share_one_call_and_get_their_own_rows_back() -> None:
    pipeline = FakePipeline()
    frames = [pd.DataFrame({"value": [1]}), pd.DataFrame({"value": [2, 3]})]
    results = batcher()._explain_batch([_Job(pipeline, f) for f in frames])
    assert pipeline.calls == [3]
    assert [[r[0] for r in rows] for rows in results] == [[2.0], [4.0, 6.0]]  # type: ignore[union-attr]


def test_frames_with_other_dtypes_are_not_merged() -> None:
    # int64 and float64 columns would become one float64 column when concatenated
    pipeline = FakePipeline()
    frames = [pd.DataFrame({"value": [1]}), pd.DataFrame({"value": [1.5]})]
    results = batcher()._explain_batch([_Job(pipeline, f) for f in frames])
    assert pipeline.calls == [1, 1]
    assert [rows[0][1] for rows in results] == [["int64"], ["float64"]]  # type: ignore[index]


def test_a_failing_merged_call_gives_each_request_its_own_answer() -> None:
    pipeline = FakePipeline()
    frames = [pd.DataFrame({"value": ["1"]}), pd.DataFrame({"value": ["bad"]})]
    ok, failed = batcher()._explain_batch([_Job(pipeline, f) for f in frames])
    assert pipeline.calls == [2, 1, 1]  # the merged call, then each request alone
    assert [r[0] for r in ok] == [2.0]  # type: ignore[union-attr]
    assert isinstance(failed, ValueError) and "'bad'" in str(failed)


def test_a_request_bigger_than_a_batch_is_scored_on_its_own() -> None:
    pipeline = FakePipeline()
    rows = batcher(size=2).explain(pipeline, pd.DataFrame({"value": [1, 2, 3]}))
    assert pipeline.calls == [3] and [r[0] for r in rows] == [2.0, 4.0, 6.0]


def test_concurrent_requests_through_the_dispatcher(loop: asyncio.AbstractEventLoop) -> None:
    pipeline = FakePipeline()
    slow = pipeline.explain

    def explain(frame: pd.DataFrame) -> Any:
        threading.Event().wait(0.005)  # a model call that takes a while
        return slow(frame)

    pipeline.explain = explain  # type: ignore[method-assign]
    b = batcher(loop, size=16)
    for i in range(12):  # BentoML's dispatcher times its first calls (warm-up)
        assert b.explain(pipeline, pd.DataFrame({"value": [i]}))[0][0] == 2 * i
    pipeline.calls.clear()
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda i: b.explain(pipeline, pd.DataFrame({"value": [i]})), range(16))
        )
    assert [r[0][0] for r in results] == [2.0 * i for i in range(16)]
    assert sum(pipeline.calls) == 16 and len(pipeline.calls) < 16, pipeline.calls
    assert b.stats.largest > 1


@dataclass
class _Model:
    name: str
    version: str
    pipeline: Any


class _Models:
    def __init__(self, model: _Model) -> None:
        self.model = model

    def get(self, name: str) -> _Model:
        return self.model

    def status(self) -> list[Any]:
        return []


@dataclass
class _Runtime:
    models: Any
    settings: Any = None


def test_runtime_routes_explain_through_the_batcher_only_when_enabled() -> None:
    pipeline = FakePipeline()
    runtime: Any = _Runtime(_Models(_Model("m", "3", pipeline)))
    off = ScoreBatching(BatchingConfig(enabled=False), asyncio.new_event_loop())
    assert off.runtime(runtime) is runtime
    on = ScoreBatching(BatchingConfig(enabled=True, max_batch_size=2), asyncio.new_event_loop())
    model = on.runtime(runtime).models.get("m")
    assert (model.name, model.version, model.pipeline.columns) == ("m", "3", ("value",))
    # three rows exceed the batch size: scored directly, and counted
    assert [r[0] for r in model.pipeline.explain(pd.DataFrame({"value": [1, 2, 3]}))] == [
        2.0,
        4.0,
        6.0,
    ]
    assert on.stats()["m"].calls == 1 and on.runtime(runtime).models.status() == []


def test_batching_settings_defaults_and_environment() -> None:
    defaults = load_settings({})
    assert defaults.score_batching is False  # measured slower for these models
    assert (defaults.score_max_batch_size, defaults.score_max_latency_ms) == (32, 20)
    settings = load_settings(
        {
            "SPM_SERVING_SCORE_BATCHING": "on",
            "SPM_SERVING_SCORE_MAX_BATCH_SIZE": "8",
            "SPM_SERVING_SCORE_MAX_LATENCY_MS": "5",
            "SPM_SERVING_SCORE_THREADS": "4",
        }
    )
    assert settings.score_batching is True
    assert (settings.score_max_batch_size, settings.score_max_latency_ms) == (8, 5)
    assert settings.score_threads == 4


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SPM_SERVING_SCORE_BATCHING": "maybe"}, "score_batching: 'maybe' is not true or false"),
        ({"SPM_SERVING_SCORE_MAX_BATCH_SIZE": "1"}, "score_max_batch_size: must be at least 2"),
        ({"SPM_SERVING_SCORE_MAX_LATENCY_MS": "0"}, "score_max_latency_ms: must be positive"),
        ({"SPM_SERVING_SCORE_THREADS": "x"}, "score_threads"),
    ],
)
def test_bad_batching_settings_name_the_setting(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)
