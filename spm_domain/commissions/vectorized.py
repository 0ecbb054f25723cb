"""The vectorized path: the same payouts as the exact engine, in exact scaled integers.

For large runs of the common plan shapes (per-period settlement; percentage,
fixed_per_deal, rate_table and tiered components; filters; splits; fx; cap),
every amount is an exact integer at a known power-of-ten scale, held in
numpy int64 when a bound computed beforehand proves no intermediate can
overflow, else in numpy object arrays of Python ints (exact, slower). Nothing
passes through a float. Lines are rounded once to the minor unit with the
plan's mode, in integer arithmetic, so results equal the Decimal engine to
the cent (tested). Explanations are not produced here: the exact engine
(`calculate_commissions`) is the one that writes the explained lines; use
this path for volume (benchmarks, what-if, estimators over many deals).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from spm_domain.commissions.plan import (
    FixedPerDealComponent,
    PercentageComponent,
    Plan,
    RateTableComponent,
    TieredComponent,
    load_plan,
)
from spm_domain.currency import get_currency
from spm_domain.errors import DomainError
from spm_domain.money import EXACT_CONTEXT

INT64_SAFE = 2**62  # headroom under 2**63 for sums of a few terms
MAX_SCALE = 12


class NotVectorizable(DomainError):
    """The plan or data needs the exact engine (reason in the message)."""


def vectorizable_reason(plan: Plan) -> str | None:
    """None when the vectorized path supports the plan, else why not."""
    if plan.settlement != "per_period":
        return "cumulative settlement"
    if plan.credit_basis != "amount":
        return f"credit_basis {plan.credit_basis}"
    if plan.eligibility is not None or plan.draw is not None or plan.clawback is not None:
        return "eligibility, draws and clawbacks"
    for comp in plan.components:
        if not isinstance(
            comp, PercentageComponent | FixedPerDealComponent | RateTableComponent | TieredComponent
        ):
            return f"component type {comp.type}"
        for column, wanted in (comp.filter or {}).items():
            if not isinstance(wanted, str | list) and column != "credit_date":
                return "date ranges on columns other than credit_date"
    return None


# -- exact scaled integers ---------------------------------------------------------


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _scaled(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale))


def scaled_column(values: Any, name: str) -> tuple[np.ndarray, int]:
    """Text / Decimal / decimal128 values -> (int64 unscaled values, scale), exactly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_decimal(array.type):
        return _decimal_to_int64(array, name), array.type.scale
    if pa.types.is_integer(array.type):
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.int64), 0
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise NotVectorizable(f"column {name}: type {array.type} is not text or decimal")
    for scale in range(MAX_SCALE + 1):
        try:
            cast = pc.cast(array, pa.decimal128(38, scale))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return _decimal_to_int64(cast, name), scale
    raise NotVectorizable(f"column {name}: values with more than {MAX_SCALE} decimals")


def _decimal_to_int64(array: Any, name: str) -> np.ndarray:
    if array.null_count:
        raise NotVectorizable(f"column {name}: empty values")
    buffer = array.buffers()[1]
    words = np.frombuffer(buffer, dtype=np.int64, count=2 * (len(array) + array.offset))
    words = words.reshape(-1, 2)[array.offset :]
    low, high = words[:, 0], words[:, 1]
    if not np.array_equal(high, np.where(low < 0, -1, 0)):
        raise NotVectorizable(f"column {name}: values beyond 64-bit integers")
    return low.copy()


def column_codes(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """(integer code per row, the distinct values) for a text/int/dictionary column."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        codes = np.asarray(array.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = np.asarray(array.dictionary.to_pylist(), dtype=object)
        return codes, values
    raw = array.to_numpy(zero_copy_only=False)
    if raw.dtype.kind in "iu" and raw.size:
        low, high = int(raw.min()), int(raw.max())
        if low >= 0 and len(str(low)) == len(str(high)) and high - low < 4 * raw.size + 1024:
            # Dense equal-width non-negative ids: the value is the code (text order =
            # numeric order), no hashing or sorting needed.
            codes = np.subtract(raw, low, dtype=np.int64)  # one new array, no extra copy
            return codes, np.arange(low, high + 1)
    codes, values = pd.factorize(raw, sort=True)
    codes, values = np.asarray(codes, dtype=np.int64), np.asarray(values)
    if values.dtype.kind in "iu" and values.size:
        # Ids are text in the contract: order them as text. Equal-width non-negative
        # integers already sort the same way; others are re-ranked by their text.
        low, high = int(values[0]), int(values[-1])
        if low < 0 or len(str(low)) != len(str(high)):
            as_text = values.astype(str)
            rank = np.empty(len(values), dtype=np.int64)
            rank[np.argsort(as_text, kind="stable")] = np.arange(len(values))
            codes, values = rank[codes], as_text[np.argsort(as_text, kind="stable")]
    return codes, values


def _abs_max(values: np.ndarray) -> int:
    """max |v| as a Python int, without an |values| temporary."""
    if values.size == 0:
        return 0
    return max(abs(int(values.min())), abs(int(values.max())))


def _widen(values: np.ndarray, factor: int) -> np.ndarray:
    """Python-int objects when values x factor could overflow int64."""
    if values.dtype == object or values.size == 0:
        return values
    if _abs_max(values) * abs(factor) < INT64_SAFE:
        return values
    return values.astype(object)


def _as_exact(values: np.ndarray, bound: int) -> np.ndarray:
    """int64 when |intermediates| <= bound fits, else Python-int object arrays."""
    return values if bound < INT64_SAFE else values.astype(object)


def round_scaled(values: np.ndarray, scale: int, minor_unit: int, half_even: bool) -> np.ndarray:
    """Round integers at `scale` decimals to `minor_unit` decimals (half up = away from zero)."""
    if scale <= minor_unit:
        factor = 10 ** (minor_unit - scale)
        if factor >= INT64_SAFE and values.dtype != object:
            values = values.astype(object)
        return np.asarray(values * factor)
    divisor = 10 ** (scale - minor_unit)
    if divisor >= INT64_SAFE and values.dtype != object:
        values = values.astype(object)
    has_negative = bool(values.size) and bool(values.min() < 0)
    if not half_even and not has_negative and values.dtype != object:
        # Half up on non-negative int64: one add and one division (divisor is even,
        # and values + divisor // 2 stays under 2**63 since both are under 2**62).
        rounded = np.add(values, divisor // 2)
        rounded //= divisor  # in place: one temporary, not two
        return np.asarray(rounded)
    negative = values < 0
    magnitude = np.where(negative, -values, values) if has_negative else values
    quotient, remainder = magnitude // divisor, magnitude % divisor
    twice = remainder * 2
    if half_even:
        up = (twice > divisor) | ((twice == divisor) & (quotient % 2 == 1))
    else:
        up = twice >= divisor
    rounded = quotient + up.astype(quotient.dtype if quotient.dtype != object else int)
    return np.asarray(np.where(negative, -rounded, rounded) if has_negative else rounded)


def decimals_at_scale(unscaled: np.ndarray, scale: int, missing: int | None = None) -> list[Any]:
    """Decimal(v) * 10**-scale for each integer (None where v == missing), exactly."""
    if missing is None:
        return [Decimal(v).scaleb(-scale, EXACT_CONTEXT) for v in unscaled.tolist()]
    return [
        None if v == missing else Decimal(v).scaleb(-scale, EXACT_CONTEXT)
        for v in unscaled.tolist()
    ]


def _group_cumsum(values: np.ndarray, starts: np.ndarray, group_of_row: np.ndarray) -> np.ndarray:
    """Running sum within consecutive groups (rows already sorted by group)."""
    total = np.cumsum(values)
    before = np.concatenate([np.zeros(1, dtype=total.dtype), total])[starts]
    return np.asarray(total - before[group_of_row])


# -- the run --------------------------------------------------------------------------


@dataclass
class VectorizedResult:
    """Lines as arrays (amounts in integer minor units) and a statements DataFrame."""

    rep_code: np.ndarray
    rep_values: np.ndarray
    period: np.ndarray
    component_code: np.ndarray
    component_names: np.ndarray
    transaction_code: np.ndarray
    transaction_values: np.ndarray
    amount_minor: np.ndarray
    statements: pd.DataFrame
    minor_unit: int
    int64: bool

    @property
    def component(self) -> np.ndarray:
        return np.asarray(self.component_names[self.component_code])

    @property
    def rep_id(self) -> np.ndarray:
        return np.asarray(self.rep_values[self.rep_code])

    @property
    def transaction_id(self) -> np.ndarray:
        return np.asarray(self.transaction_values[self.transaction_code])

    @property
    def line_count(self) -> int:
        return len(self.amount_minor)


def _period_codes_by_day(
    day_rel: np.ndarray, first_day: int, day_span: int, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """(period code per row, month index per row) from days since `first_day`.

    Calendar arithmetic runs once per distinct day (a small table), then one
    gather per row, instead of a calendar conversion per row.
    """
    calendar = np.arange(first_day, first_day + day_span).astype("datetime64[D]")
    months_of_day = calendar.astype("datetime64[M]").astype(np.int64)  # since 1970-01
    if kind == "monthly":
        periods_of_day = months_of_day
    elif kind == "quarterly":
        periods_of_day = months_of_day // 3
    else:
        periods_of_day = months_of_day // 12
    small = np.int32 if int(np.abs(months_of_day).max(initial=0)) < 2**31 else np.int64
    return periods_of_day.astype(small)[day_rel], months_of_day.astype(small)[day_rel]


def _fx_per_row(
    cur_codes: np.ndarray,
    cur_values: np.ndarray,
    month_code: np.ndarray,
    rates: dict[tuple[str, str, str], Decimal],
    s_fx: int,
    plan_currency: str,
) -> np.ndarray:
    """Scaled fx rate of every row (plan currency = 1) via a (currency, month) table."""
    n = month_code.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first_month = int(month_code.min())
    n_months = int(month_code.max()) - first_month + 1
    one = 10**s_fx
    lookup = np.full((len(cur_values) + 1, n_months), -1, dtype=np.int64)
    lookup[[i for i, cur in enumerate(cur_values) if cur == plan_currency]] = one
    cell = cur_codes * n_months + (month_code - first_month)
    used = np.zeros(lookup.size, dtype=bool)
    used[cell] = True
    for flat in np.flatnonzero(used & (lookup.ravel() == -1)).tolist():
        code, m = divmod(flat, n_months)
        month = first_month + m
        cur = str(cur_values[code]) if code < len(cur_values) else "(empty)"
        key = (f"{1970 + month // 12:04d}-{month % 12 + 1:02d}", cur, plan_currency)
        if key not in rates:
            raise NotVectorizable(f"fx: no rate from {cur} to {plan_currency} for {key[0]}")
        lookup[code, m] = _scaled(rates[key], s_fx)
    return np.asarray(lookup.ravel()[cell])


def _period_key(code: int, kind: str) -> str:
    if kind == "monthly":
        return f"{1970 + code // 12:04d}-{code % 12 + 1:02d}"
    if kind == "quarterly":
        return f"{1970 + code // 4:04d}-Q{code % 4 + 1}"
    return f"{1970 + code:04d}"


def calculate_vectorized(
    plan: Plan | dict[str, Any] | str,
    transactions: Any,
    quotas: pd.DataFrame | None = None,
    fx: pd.DataFrame | None = None,
) -> VectorizedResult:
    """Payout amounts for the supported plan shapes (see `vectorizable_reason`).

    `transactions` is a pyarrow Table or a DataFrame with the contract's columns
    (amount/share as text or decimal128; credit_date as text or date). Input is
    assumed valid: run the exact engine on a sample, or on the whole data set
    when an error message is needed; invalid shares or missing fx/quota raise
    NotVectorizable here.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    plan = load_plan(plan)
    reason = vectorizable_reason(plan)
    if reason is not None:
        raise NotVectorizable(f"plan {plan.plan}: {reason} need the exact engine")
    table = (
        transactions
        if isinstance(transactions, pa.Table)
        else pa.Table.from_pandas(transactions, preserve_index=False)
    )
    currency = get_currency(plan.currency)
    half_even = plan.rounding == "half_even"
    n = table.num_rows

    amount, s_amount = scaled_column(table.column("amount"), "amount")
    if "share" in table.column_names:
        share, s_share = scaled_column(table.column("share"), "share")
    else:
        share, s_share = np.ones(n, dtype=np.int64), 0
    dates = table.column("credit_date")
    if not pa.types.is_date32(dates.type):
        dates = pc.cast(dates, pa.date32())
    if dates.null_count:
        raise NotVectorizable("column credit_date: empty values")
    # Days since 1970-01-01 as int32, straight from the Arrow buffer.
    days = np.asarray(pc.cast(dates, pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int32)
    first_day = int(days.min(initial=0))
    day_rel = days - np.int32(first_day)
    day_span = int(day_rel.max(initial=0)) + 1
    period_code, month_code = _period_codes_by_day(day_rel, first_day, day_span, plan.period)

    # fx: one scaled rate per row (plan currency = 1).
    cur_codes, cur_values = column_codes(table.column("currency"))
    fx_rows = [] if fx is None else fx.astype(str).to_dict(orient="records")
    rates = {
        (r["period"], r["from_currency"], r["to_currency"]): Decimal(r["rate"]) for r in fx_rows
    }
    s_fx = max([_decimals(v) for v in rates.values()] + [0])
    fx_scaled = _fx_per_row(cur_codes, cur_values, month_code, rates, s_fx, plan.currency)

    # Credited at scale s_credit, exact.
    s_credit = s_amount + s_share + s_fx
    max_credit = _abs_max(amount) * int(share.max(initial=1)) * int(fx_scaled.max(initial=1))
    credited = _as_exact(amount, max_credit) * share
    credited *= fx_scaled  # in place: one fresh n-row array, not two
    del amount, fx_scaled, cur_codes, month_code

    # Splits must sum to exactly 1 per transaction.
    tx_codes, tx_uniques = column_codes(table.column("transaction_id"))
    tx_ordered = n < 2 or bool(np.all(tx_codes[1:] >= tx_codes[:-1]))
    if tx_ordered:
        _check_shares_in_order(tx_codes, tx_uniques, share, s_share)
    else:
        _check_shares(tx_codes, tx_uniques, share, s_share)

    rep_codes, rep_uniques = column_codes(table.column("rep_id"))
    first_period = int(period_code.min(initial=0))
    period_values = np.arange(first_period, int(period_code.max(initial=0)) + 1)
    n_periods = len(period_values)
    group = rep_codes * n_periods
    group += period_code - first_period  # dense range: no sort needed
    del period_code, rep_codes
    order, group_sorted = _group_order(group, day_rel, day_span, tx_codes, len(tx_uniques))
    del group, day_rel
    boundaries = np.empty(n, dtype=bool)
    boundaries[:1] = True
    np.not_equal(group_sorted[1:], group_sorted[:-1], out=boundaries[1:])
    starts = np.flatnonzero(boundaries)
    group_index_sorted = np.cumsum(boundaries, dtype=np.int64) - 1
    del boundaries
    group_ids = group_sorted[starts]
    tx_sorted = _narrow(tx_codes)[order]
    del tx_codes
    return _components(
        plan, table, days, order, group_sorted, group_ids, starts, group_index_sorted, tx_sorted,
        credited, share, s_share, s_credit, quotas, rep_uniques, period_values,
        tx_uniques, currency.minor_unit, half_even,
    )  # fmt: skip


def _check_shares(
    tx_codes: np.ndarray, tx_uniques: np.ndarray, share: np.ndarray, s_share: int
) -> None:
    """Splits must sum to exactly 1 per transaction (any row order)."""
    counts = np.bincount(tx_codes, minlength=len(tx_uniques))
    if int(share.max(initial=0)) * int(counts.max(initial=0)) < 2**53:
        # Sums of small integers are exact in float64 (shares are ratios, not money).
        share_sums = np.bincount(tx_codes, weights=share, minlength=len(tx_uniques))
        wanted: Any = float(10**s_share)
    else:
        share_sums = np.zeros(len(tx_uniques), dtype=object)
        np.add.at(share_sums, tx_codes, share.astype(object))
        wanted = 10**s_share
    bad_shares = (share_sums != wanted) & (counts > 0)
    if np.any(bad_shares):
        bad = tx_uniques[int(np.nonzero(bad_shares)[0][0])]
        raise NotVectorizable(f"transactions: shares of transaction {bad!r} do not sum to 1")


def _check_shares_in_order(
    tx_codes: np.ndarray, tx_uniques: np.ndarray, share: np.ndarray, s_share: int
) -> None:
    """Splits must sum to exactly 1 per transaction (rows in transaction order: run sums)."""
    if tx_codes.size == 0:
        return
    run_starts = np.flatnonzero(tx_codes[1:] != tx_codes[:-1]) + 1
    run_starts = np.concatenate([np.zeros(1, dtype=run_starts.dtype), run_starts])
    longest = int(np.diff(run_starts, append=tx_codes.size).max())
    values = share if int(share.max()) * longest < INT64_SAFE else share.astype(object)
    sums = np.add.reduceat(values, run_starts)
    bad_runs = np.flatnonzero(sums != 10**s_share)
    if bad_runs.size:
        bad = tx_uniques[int(tx_codes[run_starts[bad_runs[0]]])]
        raise NotVectorizable(f"transactions: shares of transaction {bad!r} do not sum to 1")


def _narrow(codes: np.ndarray) -> np.ndarray:
    """int32 codes when they fit (half the memory traffic for gathers)."""
    if codes.size and int(codes.max()) < 2**31 and int(codes.min()) >= -(2**31):
        return codes.astype(np.int32)
    return codes


def _group_order(
    group: np.ndarray, day_rel: np.ndarray, day_span: int, tx_codes: np.ndarray, n_tx: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row order by (group, day, transaction, input row), group of each sorted row).

    The row number is packed into the low bits of one int64 key, so keys are
    unique and an unstable value sort (SIMD, about 10x faster than an argsort)
    gives exactly the stable order; rows in transaction order (checked, O(n))
    need no transaction term. Already-ordered input is not sorted at all.
    """
    n = group.size
    rows_bits = max(1, int(n).bit_length())
    day_key = group * day_span
    day_key += day_rel  # (group, day) in one integer
    top = int(day_key.max(initial=0)) + 1
    tx_sorted_input = n < 2 or bool(np.all(tx_codes[1:] >= tx_codes[:-1]))
    if top << rows_bits < INT64_SAFE and (tx_sorted_input or (n_tx + 1) << rows_bits < INT64_SAFE):
        mask = (1 << rows_bits) - 1
        if tx_sorted_input:
            first = None
        else:  # first put rows in (transaction, row) order, then sort those positions
            by_tx = (tx_codes << rows_bits) | np.arange(n, dtype=np.int64)
            by_tx.sort()
            first = by_tx & mask
            del by_tx
            day_key = day_key[first]
        key = day_key
        key <<= rows_bits
        key |= np.arange(n, dtype=np.int64)
        if n > 1 and not bool(np.all(key[1:] > key[:-1])):
            key.sort()
        order = key & mask
        key >>= rows_bits
        key //= day_span  # now the group of each sorted row
        return (order if first is None else first[order]), key
    order = np.lexsort((tx_codes, day_rel, group))
    return order, group[order]


CHUNK_ROWS = 1 << 17  # rows per block: temporaries stay in cache and in malloc's heap


def _chunk_cuts(starts: np.ndarray, n: int) -> np.ndarray:
    """Sorted positions that cut the rows into blocks of about CHUNK_ROWS whole groups."""
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    ends = np.append(starts, n)
    wanted = np.arange(CHUNK_ROWS, n, CHUNK_ROWS)
    return np.unique(np.concatenate([[0], ends[np.searchsorted(starts, wanted)], [n]]))


@dataclass
class _Prepared:
    """What a component needs for every block, computed once."""

    mask_sorted: np.ndarray | None  # filter hits in group order
    key_codes: np.ndarray | None  # rate table key code per input row
    per_value: np.ndarray | None  # scaled rate per key code (last = missing value)
    s_rate: int


def _prepare(comp: Any, table: Any, days: np.ndarray, order: np.ndarray) -> _Prepared:
    mask = _filter_mask(table, comp.filter, days)[order] if comp.filter else None
    if isinstance(comp, RateTableComponent):
        key_codes_all, key_values = column_codes(table.column(comp.key))
        listed = list(comp.rates.values()) + ([comp.default] if comp.default is not None else [])
        s_rate = max(_decimals(r) for r in listed)
        default = -1 if comp.default is None else _scaled(comp.default, s_rate)
        per_value = np.array(
            [
                _scaled(comp.rates[str(v)], s_rate) if str(v) in comp.rates else default
                for v in key_values
            ]
            + [default],
            dtype=np.int64,
        )
        return _Prepared(mask, _narrow(key_codes_all), per_value, s_rate)
    return _Prepared(mask, None, None, 0)


def _components(
    plan: Plan,
    table: Any,
    days: np.ndarray,
    order: np.ndarray,
    group_sorted: np.ndarray,
    group_ids: np.ndarray,
    starts: np.ndarray,
    group_index_sorted: np.ndarray,
    tx_sorted: np.ndarray,
    credited: np.ndarray,
    share: np.ndarray,
    s_share: int,
    s_credit: int,
    quotas: pd.DataFrame | None,
    rep_uniques: np.ndarray,
    period_values: np.ndarray,
    tx_uniques: np.ndarray,
    minor_unit: int,
    half_even: bool,
) -> VectorizedResult:
    """Every component's lines over the group-ordered rows, then the statements.

    Rows are processed in blocks of whole (rep, period) groups: every per-row
    temporary is block-sized (cache-resident, reused by the allocator) instead
    of a fresh n-row array, which on a VM costs more in page faults than the
    arithmetic itself. Only the returned line arrays are n-sized.
    """
    n = order.size
    sizes = np.diff(np.append(starts, n))
    wide_credit = _abs_max(credited) * int(sizes.max(initial=1)) >= INT64_SAFE
    credited_sum = np.zeros(len(starts), dtype=object if wide_credit else np.int64)
    quota_scaled, s_quota = _quotas_for_groups(quotas, rep_uniques, period_values, group_ids, plan)
    prepared = [_prepare(comp, table, days, order) for comp in plan.components]
    # per component: (positions or None = every row, minor amounts, groups or None)
    blocks: list[list[tuple[int, np.ndarray | None, np.ndarray]]] = [[] for _ in plan.components]
    cuts = _chunk_cuts(starts, n)
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        g_a, g_b = int(group_index_sorted[a]), int(group_index_sorted[b - 1]) + 1
        block_order = order[a:b]
        block_credit = credited[block_order]
        if wide_credit and block_credit.dtype != object:
            block_credit = block_credit.astype(object)
        block_starts = starts[g_a:g_b] - a
        credited_sum[g_a:g_b] = np.add.reduceat(block_credit, block_starts)
        block_groups = group_index_sorted[a:b]
        for index, comp in enumerate(plan.components):
            prep = prepared[index]
            rows: np.ndarray | None = None
            c = block_credit
            if prep.mask_sorted is not None:
                rows = np.flatnonzero(prep.mask_sorted[a:b])
                if rows.size == 0:
                    continue
                c = block_credit[rows]
            rows, minor = _component_block(
                comp, prep, c, rows, block_order, block_groups, block_starts, share, s_share,
                s_credit, quota_scaled, s_quota, minor_unit, half_even,
            )  # fmt: skip
            blocks[index].append((a, rows, minor))

    line_parts = [
        _join_blocks(index, parts, group_index_sorted)
        for index, parts in enumerate(blocks)
        if parts
    ]
    return _assemble(
        plan, line_parts, group_sorted, starts, group_index_sorted, rep_uniques, period_values,
        tx_sorted, tx_uniques, credited_sum, s_credit, quota_scaled, s_quota, group_ids,
        minor_unit,
    )  # fmt: skip


def _join_blocks(
    index: int, parts: list[tuple[int, np.ndarray | None, np.ndarray]], group_index: np.ndarray
) -> tuple[int, np.ndarray | None, list[np.ndarray], np.ndarray | None]:
    """One component's blocks as (index, positions or None = every row, minor blocks, groups).

    The minor amounts stay in blocks: `_assemble` copies every component's blocks
    into the one returned array once.
    """
    minor = [p[2] for p in parts]
    if all(p[1] is None for p in parts) and sum(m.size for m in minor) == group_index.size:
        return index, None, minor, None
    positions = np.concatenate(
        [np.arange(a, a + part.size) if rows is None else rows + a for a, rows, part in parts]
    )
    return index, positions, minor, group_index[positions]


def _component_block(
    comp: Any,
    prep: _Prepared,
    c: np.ndarray,
    rows: np.ndarray | None,
    block_order: np.ndarray,
    block_groups: np.ndarray,
    block_starts: np.ndarray,
    share: np.ndarray,
    s_share: int,
    s_credit: int,
    quota_scaled: np.ndarray,
    s_quota: int,
    minor_unit: int,
    half_even: bool,
) -> tuple[np.ndarray | None, np.ndarray]:
    """(block positions with a line or None = all, minor amounts) of one component."""
    if isinstance(comp, PercentageComponent):
        s_rate = _decimals(comp.rate)
        rate_int = _scaled(comp.rate, s_rate)
        exact = _widen(c, rate_int) * rate_int
        return rows, round_scaled(exact, s_credit + s_rate, minor_unit, half_even)
    if isinstance(comp, FixedPerDealComponent):
        s_rate = _decimals(comp.amount)
        amount_int = _scaled(comp.amount, s_rate)
        row_share = share[block_order if rows is None else block_order[rows]]
        exact = _widen(row_share, amount_int) * amount_int
        return rows, round_scaled(exact, s_share + s_rate, minor_unit, half_even)
    if isinstance(comp, RateTableComponent):
        assert prep.key_codes is not None and prep.per_value is not None
        key_codes = prep.key_codes[block_order if rows is None else block_order[rows]]
        row_rate = prep.per_value[key_codes]  # code -1 (missing value) -> default
        keep = row_rate >= 0
        if not bool(keep.all()):  # rows without a rate and no default: no line
            kept = np.flatnonzero(keep)
            rows = kept if rows is None else rows[kept]
            c, row_rate = c[kept], row_rate[kept]
        exact = _widen(c, int(row_rate.max(initial=0))) * row_rate
        return rows, round_scaled(exact, s_credit + prep.s_rate, minor_unit, half_even)
    assert isinstance(comp, TieredComponent)
    all_rows = np.arange(block_order.size) if rows is None else rows
    minor = _tiered(
        comp, c, all_rows, block_groups, block_starts, quota_scaled, s_quota,
        s_credit, minor_unit, half_even,
    )  # fmt: skip
    return rows, minor


def _quotas_for_groups(
    quotas: pd.DataFrame | None,
    reps: np.ndarray,
    period_values: np.ndarray,
    group_ids: np.ndarray,
    plan: Plan,
) -> tuple[np.ndarray, int]:
    """Scaled quota per group (-1 = none), from exact-key quota rows."""
    needs = plan.needs_quota or any(
        isinstance(c, TieredComponent) and c.basis == "attainment" for c in plan.components
    )
    out = np.full(len(group_ids), -1, dtype=object)
    if quotas is None or quotas.empty:
        if needs:
            raise NotVectorizable("quotas: required by an attainment-based component")
        return out, 0
    scaled, scale = _scaled_quotas(quotas["quota"])
    # Quota rows -> group ids through small dicts (one entry per rep / period),
    # then one searchsorted into the sorted group ids; later rows win on repeats.
    rep_index = {str(r): i for i, r in enumerate(reps.tolist())}
    n_periods = len(period_values)
    period_index = {
        _period_key(int(v), plan.period): j for j, v in enumerate(period_values.tolist())
    }
    by_group: dict[int, int] = {}
    for r, p, v in zip(quotas["rep_id"].tolist(), quotas["period"].tolist(), scaled, strict=True):
        i, j = rep_index.get(str(r)), period_index.get(str(p))
        if i is not None and j is not None:
            by_group[i * n_periods + j] = v
    if by_group:
        ids = np.fromiter(by_group.keys(), dtype=np.int64, count=len(by_group))
        where = np.searchsorted(group_ids, ids)
        present = where < len(group_ids)
        present[present] = group_ids[where[present]] == ids[present]
        found = list(by_group.values())
        for k in np.flatnonzero(present).tolist():
            out[where[k]] = found[k]
    if all(abs(v) < INT64_SAFE for v in out.tolist()):
        return out.astype(np.int64), scale
    return out, scale


def _scaled_quotas(column: pd.Series) -> tuple[list[int], int]:
    """Quota values as exact integers at one scale (text parsed by Arrow when it can)."""
    import pyarrow as pa

    try:
        unscaled, scale = scaled_column(pa.array(column.astype(str).tolist()), "quota")
        return unscaled.tolist(), scale
    except (NotVectorizable, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = [Decimal(str(v)) for v in column]
        scale = max([_decimals(v) for v in values] + [0])
        return [_scaled(v, scale) for v in values], scale


def _filter_mask(table: Any, flt: dict[str, Any] | None, days: np.ndarray) -> np.ndarray:
    mask = np.ones(table.num_rows, dtype=bool)
    for column, wanted in (flt or {}).items():
        if isinstance(wanted, str | list):
            codes, values = column_codes(table.column(column))
            allowed = {wanted} if isinstance(wanted, str) else set(wanted)
            hit = np.array([str(v) in allowed for v in values] + [False], dtype=bool)
            mask &= hit[codes]
        else:
            if wanted.from_ is not None:
                mask &= days >= np.datetime64(wanted.from_, "D").astype(np.int64)
            if wanted.to is not None:
                mask &= days <= np.datetime64(wanted.to, "D").astype(np.int64)
    return mask


def _tiered(
    comp: TieredComponent,
    c: np.ndarray,
    rows_sorted: np.ndarray,
    group_index_sorted: np.ndarray,
    starts: np.ndarray,
    quota_scaled: np.ndarray,
    s_quota: int,
    s_credit: int,
    minor_unit: int,
    half_even: bool,
) -> np.ndarray:
    s_upto = max([_decimals(t.upto) for t in comp.tiers if t.upto is not None] + [0])
    s_rate = max(_decimals(t.rate) for t in comp.tiers)
    rates = [_scaled(t.rate, s_rate) for t in comp.tiers]
    full = rows_sorted.size == group_index_sorted.size
    groups = group_index_sorted if full else group_index_sorted[rows_sorted]
    if comp.basis == "attainment":
        quota = quota_scaled[groups]
        if np.any(quota == -1) or np.any(quota == 0):
            raise NotVectorizable("quotas: missing or zero quota for an attainment component")
        s_bound = s_upto + s_quota
    else:
        quota = None
        s_bound = s_upto
    scale = max(s_credit, s_bound)
    x_factor, b_factor = 10 ** (scale - s_credit), 10 ** (scale - s_bound)
    bounds: list[Any] = []
    for t in comp.tiers[:-1]:
        assert t.upto is not None
        upto = _scaled(t.upto, s_upto) * b_factor
        bounds.append(upto * quota if quota is not None else upto)
    if full:  # every row: the statement groups are the runs
        group_starts = starts
        local_group = group_index_sorted - (group_index_sorted[0] if groups.size else 0)
    else:
        local_starts = np.concatenate([[True], groups[1:] != groups[:-1]])
        group_starts, local_group = np.flatnonzero(local_starts), np.cumsum(local_starts) - 1
    largest_group = _abs_max(np.add.reduceat(np.abs(c), group_starts))
    big = largest_group * x_factor * max([*rates, 1]) * 4
    if quota is not None:
        big += _abs_max(quota) * 10**s_upto * b_factor * max([*rates, 1])
    x = c * x_factor if x_factor != 1 else c
    if big >= INT64_SAFE and x.dtype != object:
        x = x.astype(object)
        bounds = [b.astype(object) if isinstance(b, np.ndarray) else b for b in bounds]

    if comp.mode == "marginal":
        if comp.scope == "transaction":
            before, after = np.zeros_like(x), x
        else:
            after = _group_cumsum(x, group_starts, local_group)
            before = after - x
        ascending = quota is None or bool(np.all(quota > 0))
        if x.dtype != object and ascending:
            exact = _marginal_by_tier(before, after, x, bounds, rates)
        else:
            exact = _pay(after, bounds, rates) - _pay(before, bounds, rates)
    else:
        if comp.scope == "transaction":
            measure = x
        else:
            measure = np.add.reduceat(x, group_starts)[local_group]
        tier = np.zeros(len(x), dtype=np.int64)
        for b in bounds:
            tier += (measure >= b).astype(np.int64)
        exact = x * np.asarray(rates, dtype=x.dtype if x.dtype != object else object)[tier]
    return round_scaled(exact, scale + s_rate, minor_unit, half_even)


def _pay(level: np.ndarray, bounds: list[Any], rates: list[int]) -> np.ndarray:
    """The marginal payout of a running total `level` (piecewise linear, continuous).

    Below zero: the first tier's rate; above: each tier's width times its rate
    (the width is 0 for tiers above the level, and for every tier when level <= 0).
    """
    total = np.minimum(level, 0) * rates[0]
    lower: Any = 0
    for i, rate in enumerate(rates):
        upper = bounds[i] if i < len(bounds) else None
        top = level if upper is None else np.minimum(level, upper)
        total += np.maximum(top - lower, 0) * rate
        lower = upper
    return np.asarray(total)


def _marginal_by_tier(
    before: np.ndarray, after: np.ndarray, x: np.ndarray, bounds: list[Any], rates: list[int]
) -> np.ndarray:
    """pay(after) - pay(before), evaluated in full only where a tier bound is crossed.

    With ascending bounds, a running total that stays inside one tier (bounds
    included, where the payout is continuous) pays x times that tier's rate;
    only the few rows that cross a bound need the piecewise sum.
    """
    tier_after = np.zeros(x.size, dtype=np.int8)
    tier_before = np.zeros(x.size, dtype=np.int8)
    for bound in bounds:
        tier_after += after > bound
        tier_before += before > bound
    exact = x * np.asarray(rates, dtype=np.int64)[tier_after]
    crossing = np.flatnonzero(tier_after != tier_before)
    if crossing.size:
        cut = [b[crossing] if isinstance(b, np.ndarray) else b for b in bounds]
        exact[crossing] = _pay(after[crossing], cut, rates) - _pay(before[crossing], cut, rates)
    return exact


def _assemble(
    plan: Plan,
    blocked_parts: list[tuple[int, np.ndarray | None, list[np.ndarray], np.ndarray | None]],
    group_sorted: np.ndarray,
    starts: np.ndarray,
    group_index_sorted: np.ndarray,
    rep_uniques: np.ndarray,
    period_values: np.ndarray,
    tx_sorted: np.ndarray,
    tx_uniques: np.ndarray,
    credited_sum: np.ndarray,
    s_credit: int,
    quota_scaled: np.ndarray,
    s_quota: int,
    group_ids: np.ndarray,
    minor_unit: int,
) -> VectorizedResult:
    names = plan.component_names
    n_periods = len(period_values)
    code_type = np.int32 if len(rep_uniques) * n_periods < 2**31 else np.int64
    blocks = [block for p in blocked_parts for block in p[2]]
    minor = np.concatenate(blocks) if blocks else np.zeros(0, np.int64)
    del blocks
    total = minor.size
    line_parts: list[tuple[int, np.ndarray | None, np.ndarray, np.ndarray | None]] = []
    offset = 0
    for index, positions, part_blocks, groups in blocked_parts:
        size = sum(block.size for block in part_blocks)
        line_parts.append((index, positions, minor[offset : offset + size], groups))  # views
        offset += size

    def lines_of(fill: Any, dtype: Any) -> np.ndarray:
        """One output column, written part by part into a single array (no temporaries)."""
        out = np.empty(total, dtype=dtype)
        offset, first_full = 0, -1
        for _index, positions, part, _groups in line_parts:
            target = out[offset : offset + part.size]
            if positions is None and first_full >= 0:  # same rows as an earlier part
                target[...] = out[first_full : first_full + part.size]
            elif positions is None:
                fill(slice(None), target)
                first_full = offset
            else:
                fill(positions, target)
            offset += part.size
        return out

    def rep_fill(rows: Any, target: np.ndarray) -> None:
        np.floor_divide(group_sorted[rows], n_periods, out=target, casting="unsafe")

    def period_fill(rows: Any, target: np.ndarray) -> None:
        np.remainder(group_sorted[rows], n_periods, out=target, casting="unsafe")

    def tx_fill(rows: Any, target: np.ndarray) -> None:
        target[...] = tx_sorted[rows]

    comp = np.repeat(
        np.array([p[0] for p in line_parts], dtype=np.int16), [p[2].size for p in line_parts]
    )
    # Statements: per (rep, period) group, exact integer sums over group-ordered runs.
    n_groups = len(group_ids)
    wide = minor.dtype == object or (minor.size > 0 and _abs_max(minor) * minor.size >= INT64_SAFE)
    gross = np.zeros(n_groups, dtype=object if wide else np.int64)
    for _index, _rows, part, groups in line_parts:
        if part.size == 0:
            continue
        if groups is None:  # every row: the runs are the statement groups
            gross += np.add.reduceat(part.astype(gross.dtype, copy=False), starts)
            continue
        run_starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
        gross[groups[run_starts]] += np.add.reduceat(part.astype(gross.dtype), run_starts)
    cap_minor = None if plan.cap is None else _scaled(plan.cap.amount, minor_unit)
    adjustments = (
        np.zeros(n_groups, dtype=gross.dtype)
        if cap_minor is None
        else np.where(gross > cap_minor, cap_minor - gross, 0)
    )
    period_names = np.array(
        [_period_key(int(v), plan.period) for v in period_values.tolist()], dtype=object
    )
    statements = pd.DataFrame(
        {
            "rep_id": rep_uniques[group_ids // n_periods],
            "period": period_names[group_ids % n_periods],
            "credited": decimals_at_scale(credited_sum, s_credit),
            "quota": decimals_at_scale(quota_scaled, s_quota, missing=-1),
            "gross": decimals_at_scale(gross, minor_unit),
            "adjustments": decimals_at_scale(adjustments, minor_unit),
            "payout": decimals_at_scale(gross + adjustments, minor_unit),
        }
    )
    statements["currency"] = plan.currency
    return VectorizedResult(
        rep_code=lines_of(rep_fill, code_type),
        rep_values=rep_uniques,
        period=lines_of(period_fill, code_type),
        component_code=comp,
        component_names=np.asarray(names, dtype=object),
        transaction_code=lines_of(tx_fill, tx_sorted.dtype),
        transaction_values=tx_uniques,
        amount_minor=minor,
        statements=statements,
        minor_unit=minor_unit,
        int64=minor.dtype != object,
    )
