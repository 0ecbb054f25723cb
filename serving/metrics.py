"""The service's own Prometheus metrics, next to BentoML's on `/metrics`.

Created on first use, not at import: BentoML sets PROMETHEUS_MULTIPROC_DIR in
each worker after importing the service module, and a metric created before
that would never reach the multiprocess collector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiMetrics:
    requests: Any  # Counter: spm_api_requests_total{endpoint, method, status}
    latency: Any  # Histogram: spm_api_request_duration_seconds{endpoint}
    auth_failures: Any  # Counter: spm_api_auth_failures_total{reason}
    rows: Any  # Counter: spm_api_rows_total{endpoint, kind}


@functools.cache
def api_metrics() -> ApiMetrics:
    import prometheus_client as prom

    return ApiMetrics(
        requests=prom.Counter(
            "spm_api_requests",
            "Requests to the /v1 API by endpoint, method and status code.",
            ["endpoint", "method", "status"],
        ),
        latency=prom.Histogram(
            "spm_api_request_duration_seconds",
            "Time to answer a /v1 request, by endpoint.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        ),
        auth_failures=prom.Counter(
            "spm_api_auth_failures",
            "Refused requests: missing/invalid key (401) or outside role/scope (403).",
            ["reason"],
        ),
        rows=prom.Counter(
            "spm_api_rows",
            "Rows received and returned by the calculators.",
            ["endpoint", "kind"],
        ),
    )
