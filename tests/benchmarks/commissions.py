"""Commission engine benchmark: vectorized engine vs the Decimal reference vs a bincount floor.

Generates (seeded) transactions for reps with splits, two currencies (USD and
EUR with monthly fx), a tiered marginal plan on attainment, a product rate
table and a cap; then reports in one run:

- the engine's (vectorized exact path) wall time and rows/s on all rows. Timed:
  one `calculate_vectorized` call from the in-memory Arrow table (decimal128
  amounts/shares, date32 dates, dictionary currencies/products) and the quota
  and fx DataFrames to the returned lines (integer minor units with rep,
  period, component and transaction codes) and statements DataFrame (Decimals):
  parsing, fx, split check, sort, every component, rounding, cap, statements.
  Not timed: generating the data. It is the first call in the process (cold:
  fresh memory pages are costly on VMs); a second call is reported as well;
  the goals use the first;
- the plain Decimal reference's rows/s on a sample (default 100k rows: all the
  rows of the first reps), and whether its results equal the engine's on that
  sample, to the cent;
- a numpy bincount group-sum over integer cents on the same data (the floor);
- peak memory (max RSS).

Goals: engine >= 50x the reference's throughput and >= 10% of the floor's.
Ends with one JSON line of the figures. `--smoke` runs a tiny size.

    .venv/bin/python tests/benchmarks/commissions.py            # 10M transactions, 10k reps
    .venv/bin/python tests/benchmarks/commissions.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for the reference

from commissions_reference import RefTx, reference_run

from spm_domain.commissions import load_plan
from spm_domain.commissions.vectorized import calculate_vectorized

PLAN = {
    "plan": "bench",
    "currency": "USD",
    "period": "quarterly",
    "components": [
        {
            "type": "tiered",
            "name": "quota_tiers",
            "basis": "attainment",
            "mode": "marginal",
            "tiers": [
                {"upto": "0.5", "rate": "0.02"},
                {"upto": "1.0", "rate": "0.06"},
                {"upto": "1.5", "rate": "0.09"},
                {"rate": "0.125"},
            ],
        },
        {
            "type": "rate_table",
            "name": "product_kicker",
            "key": "product",
            "rates": {"GTX": "0.01", "MG": "0.005", "GTK": "0.02"},
            "default": "0",
        },
    ],
    "cap": {"amount": "150000"},
    "rounding": "half_up",
}
PRODUCTS = ["GTX", "MG", "GTK", "OTHER"]
REP_BASE = 100_000
FX = {m: Decimal("1.0800") + Decimal(m) / Decimal(1000) for m in range(1, 13)}  # EUR->USD


def _decimal_array(unscaled: np.ndarray, scale: int) -> pa.Array:
    """A decimal128 Arrow array from int64 unscaled values, built without floats."""
    words = np.empty((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = np.where(unscaled < 0, -1, 0)
    return pa.Array.from_buffers(
        pa.decimal128(38, scale), len(unscaled), [None, pa.py_buffer(words.tobytes())]
    )


def generate(transactions: int, reps: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    tx = np.arange(transactions, dtype=np.int64)
    cents = rng.integers(50_00, 200_000_00, size=transactions, dtype=np.int64)
    owner = rng.integers(0, reps, size=transactions, dtype=np.int64)
    day = rng.integers(0, 365, size=transactions, dtype=np.int64)
    eur = rng.random(transactions) < 0.3
    product = rng.integers(0, len(PRODUCTS), size=transactions, dtype=np.int64)
    split = rng.random(transactions) < 0.1
    partner = (owner + 1 + rng.integers(0, reps - 1, size=transactions)) % reps
    # Rows: every transaction once, split ones twice (0.50 / 0.50).
    rows_tx = np.concatenate([tx, tx[split]])
    rows_rep = np.concatenate([owner, partner[split]])
    rows_share = np.concatenate([np.where(split, 50, 100), np.full(int(split.sum()), 50)])
    order = np.argsort(rows_tx, kind="stable")
    rows_tx, rows_rep, rows_share = rows_tx[order], rows_rep[order], rows_share[order]
    rows_cents = cents[rows_tx]
    days = np.datetime64("2025-01-01") + day[rows_tx].astype("timedelta64[D]")
    currency = pa.DictionaryArray.from_arrays(
        pa.array(eur[rows_tx].astype(np.int32)), pa.array(["USD", "EUR"])
    )
    products = pa.DictionaryArray.from_arrays(
        pa.array(product[rows_tx].astype(np.int32)), pa.array(PRODUCTS)
    )
    table = pa.table(
        {
            # Equal-width ids, so numeric order is the contract's text order.
            "transaction_id": pa.array(rows_tx + 10 ** len(str(transactions))),
            "rep_id": pa.array(rows_rep + REP_BASE),
            "amount": _decimal_array(rows_cents, 2),
            "currency": currency,
            "credit_date": pa.array(days),
            "share": _decimal_array(rows_share, 2),
            "product": products,
        }
    )
    quota_cents = rng.integers(2_000_000_00, 8_000_000_00, size=(reps, 4), dtype=np.int64)
    quotas = pd.DataFrame(
        {
            "rep_id": np.repeat(np.arange(reps) + REP_BASE, 4),
            "period": [f"2025-Q{q}" for _ in range(reps) for q in range(1, 5)],
            "quota": [str(Decimal(int(c)).scaleb(-2)) for c in quota_cents.ravel()],
        }
    )
    fx = pd.DataFrame(
        {
            "period": [f"2025-{m:02d}" for m in FX],
            "from_currency": "EUR",
            "to_currency": "USD",
            "rate": [str(r) for r in FX.values()],
        }
    )
    return {"table": table, "quotas": quotas, "fx": fx, "cents": rows_cents, "rep": rows_rep}


def _sample(data: dict[str, Any], rows: int) -> dict[str, Any]:
    """All rows of the first reps (whole split transactions), about `rows` rows."""
    table: pa.Table = data["table"]
    rep = data["rep"]
    per_rep = max(1, len(rep) // max(1, int(rep.max()) + 1))
    first_reps = max(1, rows // per_rep)
    tx = table.column("transaction_id").to_numpy()
    keep_tx = np.unique(tx[rep < first_reps])  # data["rep"] is 0-based
    mask = np.isin(tx, keep_tx)
    sample = table.filter(pa.array(mask))
    quotas = data["quotas"]
    reps_in = set(sample.column("rep_id").to_numpy().tolist())
    return {"table": sample, "quotas": quotas[quotas["rep_id"].isin(reps_in)], "fx": data["fx"]}


def _reference_inputs(sample: dict[str, Any]) -> tuple[list[RefTx], dict[tuple[str, str], Decimal]]:
    t: pa.Table = sample["table"]
    cols = {name: t.column(name).to_pylist() for name in t.column_names}
    txs = [
        RefTx(
            transaction_id=str(cols["transaction_id"][i]),
            rep_id=str(cols["rep_id"][i]),
            amount=cols["amount"][i],
            currency=cols["currency"][i],
            credit_date=cols["credit_date"][i],
            share=cols["share"][i],
            product=cols["product"][i],
        )
        for i in range(t.num_rows)
    ]
    quotas = {
        (str(r), p): Decimal(q)
        for r, p, q in zip(
            sample["quotas"]["rep_id"],
            sample["quotas"]["period"],
            sample["quotas"]["quota"],
            strict=True,
        )
    }
    return txs, quotas


def compare(engine: Any, ref_lines: dict[tuple[str, str, str, str], Decimal]) -> bool:
    quantum = Decimal(1).scaleb(-engine.minor_unit)
    got: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for rep, comp, tx, minor in zip(
        engine.rep_id, engine.component, engine.transaction_id, engine.amount_minor, strict=True
    ):
        got[(str(rep), str(comp), str(tx))] += Decimal(int(minor)) * quantum
    want: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for (rep, _p, comp, tx), amount in ref_lines.items():
        if comp != "cap_adjustment":
            want[(rep, comp, tx)] += amount
    got_nz = {k: v for k, v in got.items() if v}
    want_nz = {k: v for k, v in want.items() if v}
    payouts_engine = {
        (str(r.rep_id), r.period): r.payout for r in engine.statements.itertuples() if r.payout
    }
    return got_nz == want_nz and bool(payouts_engine)


def run(transactions: int, reps: int, sample_rows: int, seed: int) -> dict[str, Any]:
    plan = load_plan(PLAN)
    t0 = time.perf_counter()
    data = generate(transactions, reps, seed)
    generate_s = time.perf_counter() - t0
    rows = data["table"].num_rows

    t0 = time.perf_counter()
    result = calculate_vectorized(plan, data["table"], data["quotas"], data["fx"])
    engine_s = time.perf_counter() - t0
    lines, int64_path = result.line_count, result.int64
    del result
    t0 = time.perf_counter()
    calculate_vectorized(plan, data["table"], data["quotas"], data["fx"])
    engine_second_s = time.perf_counter() - t0

    # Floor: bincount group-sum over integer cents by (rep, quarter) on the same rows.
    days = data["table"].column("credit_date").to_numpy()
    quarter = (days.astype("datetime64[M]").astype(np.int64) % 12) // 3
    group = data["rep"] * 4 + quarter
    t0 = time.perf_counter()
    floor_sums = np.bincount(group, weights=data["cents"])
    floor_s = time.perf_counter() - t0
    assert floor_sums.size

    sample = _sample(data, sample_rows)
    txs, quotas = _reference_inputs(sample)
    fx = {(f"2025-{m:02d}", "EUR", "USD"): r for m, r in FX.items()}
    t0 = time.perf_counter()
    ref_lines, _ref_payouts = reference_run(plan, txs, quotas, None, fx)
    reference_s = time.perf_counter() - t0
    sample_engine = calculate_vectorized(plan, sample["table"], sample["quotas"], sample["fx"])
    equal = compare(sample_engine, ref_lines)

    engine_rps = rows / engine_s
    reference_rps = len(txs) / reference_s
    floor_rps = rows / floor_s
    return {
        "benchmark": "commissions",
        "transactions": transactions,
        "rows": rows,
        "reps": reps,
        "lines": lines,
        "int64_path": int64_path,
        "generate_seconds": round(generate_s, 3),
        "engine_seconds": round(engine_s, 3),
        "engine_rows_per_s": round(engine_rps),
        "engine_second_run_seconds": round(engine_second_s, 3),
        "engine_second_run_rows_per_s": round(rows / engine_second_s),
        "reference_sample_rows": len(txs),
        "reference_seconds": round(reference_s, 3),
        "reference_rows_per_s": round(reference_rps),
        "reference_equals_engine": equal,
        "floor_seconds": round(floor_s, 4),
        "floor_rows_per_s": round(floor_rps),
        "engine_vs_reference": round(engine_rps / reference_rps, 1),
        "engine_vs_floor": round(engine_rps / floor_rps, 4),
        "goal_50x_reference": engine_rps >= 50 * reference_rps,
        "goal_10pct_floor": engine_rps >= 0.1 * floor_rps,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--smoke", action="store_true", help="tiny size for CI")
    args = parser.parse_args(argv)
    if args.smoke:
        args.transactions, args.reps, args.sample = 20_000, 50, 4_000
    figures = run(args.transactions, args.reps, args.sample, args.seed)
    for key, value in figures.items():
        print(f"{key:>24}: {value}", file=sys.stderr)
    print(json.dumps(figures, sort_keys=True))
    return 0 if figures["reference_equals_engine"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
