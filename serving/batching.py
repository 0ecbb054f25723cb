"""Adaptive batching of model scoring: concurrent score requests share one
model call.

Each score request still gathers its own features, checks its own caller's
scope and formats its own answer (`serving.scoring.score`, unchanged); only
the model call (`pipeline.explain(frame)`) is handed to a dispatcher that
merges the frames waiting at that moment into one call and gives every
request back its own rows. The dispatcher is BentoML's own adaptive-batching
dispatcher (`CorkDispatcher`, the one behind `@bentoml.api(batchable=True)`):
it learns how long a model call takes for n rows and waits for more requests
only while that keeps the oldest one within `max_latency_ms`.

Why not a `batchable=True` API: in BentoML 1.4.39 a batchable API batches the
HTTP requests sent to *its own route*; calling it from another API of the same
service goes through the service's self-proxy, an in-process HTTP round trip
(JSON encoding of every frame) to a route that must be public, and outside
`/v1` it would bypass the API-key guard. A composed service
(`bentoml.depends`) would put the model in a second process on this 2-core
machine, add IPC to every request and keep a second copy of every model that
hot-reloads on its own clock. Calling the dispatcher in-process keeps one
copy of each model, no extra hop and the guard unchanged (docs/serving.md,
"Batching").

Answers are identical to unbatched scoring: only frames with the same columns
and dtypes are merged (the encoder reads a column's dtype), rows are scored
independently, and when a merged call fails every request is re-scored on its
own so each gets its own error. A request the dispatcher drops (it waited past
`max_latency_ms`) is scored on its own instead of failing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from serving.bootstrap import Runtime
from serving.ports import ModelProvider, ServedModel

log = logging.getLogger(__name__)

Explained = list[Any]  # pipeline.explain's rows: (probability, positive, negative)


@dataclass(frozen=True)
class BatchingConfig:
    enabled: bool = True
    max_batch_size: int = 32  # requests merged into one model call
    max_latency_ms: int = 20  # longest a request may wait for its batch


@dataclass
class BatchStats:
    """Per model: model calls made and requests they answered (a test and ops hook)."""

    calls: int = 0
    requests: int = 0
    rows: int = 0
    largest: int = 0  # most requests merged into one call
    fallbacks: int = 0  # requests scored on their own after the dispatcher dropped them


@dataclass(frozen=True)
class _Job:
    pipeline: Any
    frame: pd.DataFrame

    def signature(self) -> tuple[Any, ...]:
        return (
            id(self.pipeline),
            tuple((str(c), str(t)) for c, t in self.frame.dtypes.items()),
        )


_DROPPED = object()  # the dispatcher's fallback: the request waited too long


@functools.cache
def _metrics() -> tuple[Any, Any]:
    import prometheus_client as prom

    calls = prom.Counter(
        "spm_score_model_calls",
        "Model calls made by the score endpoints, by model and path "
        "(batched: through the dispatcher; direct: scored on its own).",
        ["model", "path"],
    )
    merged = prom.Histogram(
        "spm_score_batch_requests",
        "Score requests answered by one batched model call.",
        ["model"],
        buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128),
    )
    return calls, merged


class ModelBatcher:
    """One model's dispatcher on one event loop."""

    def __init__(self, model: str, config: BatchingConfig, loop: asyncio.AbstractEventLoop):
        from bentoml._internal.marshal.dispatcher import CorkDispatcher

        self.model = model
        self.config = config
        self.loop = loop
        self.stats = BatchStats()
        self._lock = threading.Lock()
        self._dispatcher: Any = CorkDispatcher(
            max_latency_in_ms=config.max_latency_ms,
            max_batch_size=config.max_batch_size,
            fallback=lambda: _DROPPED,
            get_batch_size=lambda _job: 1,  # counted in requests; never split
        )
        self._call = self._dispatcher(self._explain_on_loop)

    def shutdown(self) -> None:
        self._dispatcher.shutdown()

    def _record(self, requests: int, rows: int, path: str) -> None:
        with self._lock:
            self.stats.calls += 1
            self.stats.requests += requests
            self.stats.rows += rows
            self.stats.largest = max(self.stats.largest, requests)
        calls, merged = _metrics()
        calls.labels(self.model, path).inc()
        if path == "batched":
            merged.labels(self.model).observe(requests)

    def explain_direct(self, pipeline: Any, frame: pd.DataFrame) -> Explained:
        result = list(pipeline.explain(frame))
        self._record(1, len(frame), "direct")
        return result

    async def _explain_on_loop(self, jobs: Sequence[_Job]) -> list[Explained | Exception]:
        # On the loop itself: a merged call takes a millisecond or so and holds the GIL
        # anyway; a hop to another thread would only add a context switch.
        return self._explain_batch(jobs)

    def _explain_batch(self, jobs: Sequence[_Job]) -> list[Explained | Exception]:
        """The dispatcher's callback: one model call per group of alike frames."""
        results: list[Explained | Exception | None] = [None] * len(jobs)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(job.signature(), []).append(index)
        for members in groups.values():
            pipeline = jobs[members[0]].pipeline
            frames = [jobs[i].frame for i in members]
            try:
                merged = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
                explained = list(pipeline.explain(merged))
            except Exception as exc:  # each request gets its own answer below
                if len(members) == 1:
                    results[members[0]] = exc
                    continue
                for i in members:
                    try:
                        results[i] = self.explain_direct(pipeline, jobs[i].frame)
                    except Exception as alone:  # re-raised in its own request
                        results[i] = alone
                continue
            self._record(len(members), len(merged), "batched")
            start = 0
            for i, frame in zip(members, frames, strict=True):
                results[i] = explained[start : start + len(frame)]
                start += len(frame)
        return [r if r is not None else RuntimeError("unscored") for r in results]

    def explain(self, pipeline: Any, frame: pd.DataFrame) -> Explained:
        """From a worker thread: wait for this frame's rows from a (merged) model call."""
        if len(frame) > self.config.max_batch_size:  # already a batch of its own
            return self.explain_direct(pipeline, frame)
        future = asyncio.run_coroutine_threadsafe(self._call(_Job(pipeline, frame)), self.loop)
        result = future.result()
        if result is _DROPPED:
            with self._lock:
                self.stats.fallbacks += 1
            return self.explain_direct(pipeline, frame)
        return list(result)


class _BatchedPipeline:
    """The model's pipeline, with `explain` going through the batcher."""

    def __init__(self, pipeline: Any, batcher: ModelBatcher) -> None:
        self._pipeline = pipeline
        self._batcher = batcher

    def explain(self, frame: pd.DataFrame | Sequence[Any]) -> Explained:
        # scoring hands over its rows as dicts; merging needs frames (dtypes compared)
        if not isinstance(frame, pd.DataFrame):
            frame = pd.DataFrame(list(frame))
        return self._batcher.explain(self._pipeline, frame)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)


class _BatchedModel:
    def __init__(self, model: ServedModel, batcher: ModelBatcher) -> None:
        self._model = model
        pipeline = getattr(model, "pipeline", None)
        self.pipeline = None if pipeline is None else _BatchedPipeline(pipeline, batcher)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class _BatchedModels:
    def __init__(self, models: ModelProvider, batchers: ScoreBatching) -> None:
        self._models = models
        self._batchers = batchers

    def get(self, name: str) -> Any:
        return _BatchedModel(self._models.get(name), self._batchers.batcher(name))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._models, name)


@dataclass
class ScoreBatching:
    """The batchers of one service worker, per model, on the worker's event loop."""

    config: BatchingConfig
    loop: asyncio.AbstractEventLoop
    _batchers: dict[str, ModelBatcher] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def batcher(self, model: str) -> ModelBatcher:
        with self._lock:
            found = self._batchers.get(model)
            if found is None:
                found = self._batchers[model] = ModelBatcher(model, self.config, self.loop)
            return found

    def runtime(self, runtime: Runtime) -> Runtime:
        """The runtime a score request uses: the same adapters, batched model calls."""
        if not self.config.enabled:
            return runtime
        return replace(runtime, models=_BatchedModels(runtime.models, self))  # type: ignore[arg-type]

    def stats(self) -> dict[str, BatchStats]:
        with self._lock:
            return {name: replace(b.stats) for name, b in self._batchers.items()}

    def shutdown(self) -> None:
        with self._lock:
            for batcher in self._batchers.values():
                batcher.shutdown()
            self._batchers.clear()
