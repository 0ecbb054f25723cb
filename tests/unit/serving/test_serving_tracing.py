"""OpenTelemetry tracing is off unless asked for (docs/serving.md, "Memory")."""

from __future__ import annotations

import re

from serving.service import _tracing_config


def test_tracing_excludes_every_url_by_default_and_is_kept_on_request() -> None:
    excluded = _tracing_config({})["excluded_urls"]
    for url in ("http://127.0.0.1:3000/v1/score/deal", "http://h/metrics", "http://h/readyz"):
        assert re.search(excluded, url)
    assert _tracing_config({"SPM_SERVING_TRACING": "true"}) == {}
    assert _tracing_config({"SPM_SERVING_TRACING": "no"}) == {"excluded_urls": "."}
