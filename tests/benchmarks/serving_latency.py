"""Serving benchmark: the commission engine called directly vs the same run
through the whole `/v1/commissions/calculate` stack (guard, validation, JSON
both ways) in process via `SpmService.to_asgi()`, side by side, for growing
numbers of transactions; checks the HTTP lines equal the engine's.

Ends with one JSON line of the figures. `--smoke` runs tiny sizes.

    .venv/bin/python tests/benchmarks/serving_latency.py            # 3, 1k, 10k transactions
    .venv/bin/python tests/benchmarks/serving_latency.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
_TESTS = str(Path(__file__).resolve().parents[1])  # tests/ for shared helpers
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = _TESTS  # run as a script: tests/benchmarks/serving.py would shadow `serving`
else:
    sys.path.insert(0, _TESTS)


def _body(n: int) -> dict[str, Any]:
    from _serving_support import WORKED_PLAN

    transactions = [
        {"transaction_id": f"T{i:07d}", "rep_id": f"R{i % 50}", "amount": f"{1000 + i % 997}.{i % 100:02d}",
         "currency": "USD", "credit_date": f"2025-{1 + i % 3:02d}-{1 + i % 28:02d}"}
        for i in range(n)
    ]  # fmt: skip
    quotas = [{"rep_id": f"R{r}", "period": "2025-Q1", "quota": "100000.00"} for r in range(50)]
    return {"plan": WORKED_PLAN, "transactions": transactions, "quotas": quotas}


def _median_ms(call: Any, repeats: int) -> float:
    call()  # warm-up: imports and caches are not what is measured
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args(argv)
    sizes = [3, 200] if args.smoke else [3, 1_000, 10_000]
    repeats = 3 if args.smoke else 5

    import pandas as pd
    from starlette.testclient import TestClient

    from serving.adapters.team_directory import InMemoryTeamDirectory
    from serving.bootstrap import build_runtime, use_runtime
    from serving.security import Role, issue_key
    from serving.service import SpmService
    from serving.settings import ServingSettings
    from spm_domain.commissions import calculate_commissions

    figures: dict[str, Any] = {"sizes": sizes, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServingSettings(data_dir=Path(tmp), max_request_bytes=64 * 1024 * 1024)
        runtime = build_runtime(settings, teams=InMemoryTeamDirectory({}))
        key = issue_key(Role.SERVICE, label="bench")
        runtime.keys.add(key.record)
        headers = {"Authorization": f"Bearer {key.plain_key}"}
        with use_runtime(runtime), TestClient(SpmService.to_asgi()) as client:
            print(
                f"{'transactions':>12} {'engine ms':>10} {'http ms':>10} {'http/engine':>12} {'same lines':>11}"
            )
            for n in sizes:
                body = _body(n)
                tx = pd.DataFrame(body["transactions"], dtype=object)
                quotas = pd.DataFrame(body["quotas"], dtype=object)
                engine_ms = _median_ms(
                    lambda b=body, t=tx, q=quotas: calculate_commissions(b["plan"], t, q), repeats
                )
                response = client.post("/v1/commissions/calculate", json=body, headers=headers)
                assert response.status_code == 200, response.text[:500]
                http_ms = _median_ms(
                    lambda b=body: client.post(
                        "/v1/commissions/calculate", json=b, headers=headers
                    ),
                    repeats,
                )
                direct = calculate_commissions(body["plan"], tx, quotas).lines
                expected = [format(v, "f") for v in direct["amount"].tolist()]
                same = [line["amount"] for line in response.json()["lines"]] == expected
                print(
                    f"{n:>12} {engine_ms:>10.1f} {http_ms:>10.1f} {http_ms / engine_ms:>12.2f} {same!s:>11}"
                )
                figures["runs"].append(
                    {"transactions": n, "engine_ms": round(engine_ms, 2), "http_ms": round(http_ms, 2),
                     "ratio": round(http_ms / engine_ms, 3), "same_lines": same}
                )  # fmt: skip
    figures["all_same"] = all(r["same_lines"] for r in figures["runs"])
    print(json.dumps(figures))
    return 0 if figures["all_same"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
