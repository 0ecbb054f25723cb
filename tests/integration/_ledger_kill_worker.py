"""Subprocess for the kill -9 test: posts a large run and reports each batch
written inside the (still uncommitted) transaction, so the test can SIGKILL
it half-way."""

from __future__ import annotations

import sys

from _ledger_support import big_run

from spm_domain.ledger import Ledger


def main(url: str, schema: str, lines: int) -> None:
    ledger = Ledger.open(url, schema=schema or None)

    def report(done: int, total: int) -> None:
        sys.stdout.write(f"BATCH {done}/{total}\n")
        sys.stdout.flush()

    ledger.post_run(big_run(lines, inputs="killed"), "killer", progress=report, batch_size=500)
    sys.stdout.write("COMMITTED\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
