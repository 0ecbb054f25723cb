"""Alembic environment for the ledger. It is driven programmatically by
`spm_domain.ledger.db.upgrade_to_head`, which hands over an open connection
(no alembic.ini, no URL read from the environment here)."""

from __future__ import annotations

from alembic import context

from spm_domain.ledger.models import Base


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "the ledger migrations run through spm_domain.ledger.db.open_ledger_engine, "
            "which supplies the database connection"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table="ledger_alembic_version",
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
