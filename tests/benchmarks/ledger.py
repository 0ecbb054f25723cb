"""Payout ledger benchmark: post a run of N lines, re-post it (idempotent),
approve it at two levels, pay it and build one statement, on SQLite and
(optionally) PostgreSQL. Ends with one JSON line of the figures.

    .venv/bin/python tests/benchmarks/ledger.py                   # 20k lines, SQLite
    .venv/bin/python tests/benchmarks/ledger.py --lines 50000 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python tests/benchmarks/ledger.py --smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from spm_domain.ledger import Ledger, LineRecord, RunInput
from spm_domain.ledger.statements import build_statement, render_statement_html


def make_run(lines: int) -> RunInput:
    records = tuple(
        LineRecord(f"rep_{i % 100}", "2025-Q1", "base", Decimal("12.34"), "USD", f"T{i}")
        for i in range(lines)
    )
    return RunInput("bench", "v1", "bench-hash", "2025-Q1", {"transactions": str(lines)}, records)


def measure(name: str, url: str, schema: str | None, run: RunInput) -> dict[str, object]:
    started = time.perf_counter()
    ledger = Ledger.open(url, schema=schema)
    figures: dict[str, object] = {"backend": name, "lines": len(run.lines)}
    figures["open_seconds"] = round(time.perf_counter() - started, 3)
    try:
        for step, action in (
            ("post_seconds", lambda: ledger.post_run(run, "bench")),
            ("repost_seconds", lambda: ledger.post_run(run, "bench")),
            ("approve_manager_seconds", lambda: ledger.approve_run(run.run_id, "m", "manager")),
            ("approve_finance_seconds", lambda: ledger.approve_run(run.run_id, "f", "finance")),
            ("pay_seconds", lambda: ledger.pay("2025-Q1", "p")),
            (
                "statement_seconds",
                lambda: render_statement_html(build_statement(ledger, "rep_1", "2025-Q1")),
            ),
        ):
            started = time.perf_counter()
            action()
            figures[step] = round(time.perf_counter() - started, 3)
        post = figures["post_seconds"]
        assert isinstance(post, float)
        figures["post_lines_per_second"] = round(len(run.lines) / max(post, 1e-9))
        paid = sum((p.amount for p in ledger.payments()), Decimal(0))
        figures["paid_equals_posted"] = paid == Decimal("12.34") * len(run.lines)
    finally:
        ledger.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL URL (own schema)")
    parser.add_argument("--smoke", action="store_true", help="tiny size, SQLite only")
    args = parser.parse_args(argv)
    run = make_run(200 if args.smoke else args.lines)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(measure("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", None, run))
    if args.postgres and not args.smoke:
        schema = f"spm_bench_{uuid.uuid4().hex}"
        try:
            results.append(measure("postgres", args.postgres, schema, run))
        finally:
            engine = sa.create_engine(args.postgres)
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
    for figures in results:
        sys.stdout.write(
            f"{figures['backend']:>8}: {figures['lines']} lines, post {figures['post_seconds']}s "
            f"({figures['post_lines_per_second']} lines/s), re-post {figures['repost_seconds']}s, "
            f"approve {figures['approve_manager_seconds']}s + {figures['approve_finance_seconds']}s, "
            f"pay {figures['pay_seconds']}s, statement {figures['statement_seconds']}s\n"
        )
    sys.stdout.write(json.dumps(results) + "\n")
    return 0 if all(r["paid_equals_posted"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
