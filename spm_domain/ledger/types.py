"""Column types: exact decimals on every backend.

PostgreSQL has NUMERIC. SQLite has no exact decimal type (SQLAlchemy would
round-trip through float), so there the amount is stored as canonical text
and parsed back into a Decimal: exact, at the price of summing in Python
rather than in SQL, which the ledger does anyway.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL, exact decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 38, scale: int = 12) -> None:
        super().__init__()
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"ExactDecimal columns take Decimal, got {type(value).__name__}")
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
