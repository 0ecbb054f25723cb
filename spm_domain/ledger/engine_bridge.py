"""Calculate with the commission engine and hand the result to the ledger as
run inputs. The only module of the ledger that knows the engine's shape."""

from __future__ import annotations

from pathlib import Path

from spm_domain.ledger.errors import InvalidRunError
from spm_domain.ledger.records import RunInput


def calculate_run_inputs(
    *,
    plan: Path,
    transactions: Path,
    quotas: Path | None,
    roster: Path | None,
    fx: Path | None,
    periods: list[str],
) -> list[RunInput]:
    raise InvalidRunError(
        "calculating from a plan needs the commission engine (spm_domain.commissions), "
        f"which is not available yet: run `spm commissions calculate --plan {plan} ... --out DIR` "
        "and post that directory with --run-dir"
    )
