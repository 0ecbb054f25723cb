"""Render the canonical model (schema.py) as markdown and JSON.

`docs/data-model.md` embeds `render_schema_markdown()` between the markers
below; a test regenerates it and fails if the file drifted. To refresh:

    .venv/bin/python -m features.ingest.docs docs/data-model.md
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from features.ingest.schema import CANONICAL_TABLES, Column, Table

BEGIN_MARKER = "<!-- BEGIN GENERATED: canonical tables (python -m features.ingest.docs) -->"
END_MARKER = "<!-- END GENERATED: canonical tables -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rules(column: Column) -> str:
    parts = []
    if column.allowed:
        parts.append("one of " + ", ".join(f"`{v}`" for v in column.allowed))
    if column.references:
        parts.append(f"→ `{column.references}`")
    if column.minimum is not None:
        parts.append(f"≥ {column.minimum:g}")
    if column.name == "currency" or column.name.endswith("_currency"):
        parts.append("ISO 4217")
    return "; ".join(parts)


def render_table_markdown(table: Table) -> str:
    lines = [
        f"### `{table.name}`",
        "",
        _cell(table.description),
        "",
        f"Primary key: {', '.join(f'`{c}`' for c in table.primary_key)}",
        "",
        "| column | type | required | nullable | rules | description |",
        "|---|---|---|---|---|---|",
    ]
    for c in table.columns:
        lines.append(
            f"| `{c.name}` | {c.type.value} | {'yes' if c.required else 'no'} "
            f"| {'yes' if c.nullable else 'no'} | {_cell(_rules(c))} | {_cell(c.description)} |"
        )
    if table.checks:
        lines += ["", "Table rules: " + "; ".join(table.checks) + "."]
    return "\n".join(lines)


def render_schema_markdown() -> str:
    return "\n\n".join(render_table_markdown(t) for t in CANONICAL_TABLES.values()) + "\n"


def schema_as_dict() -> dict[str, Any]:
    return {
        name: {
            "description": t.description,
            "primary_key": list(t.primary_key),
            "checks": list(t.checks),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type.value,
                    "required": c.required,
                    "nullable": c.nullable,
                    "allowed": list(c.allowed),
                    "references": c.references,
                    "minimum": c.minimum,
                    "description": c.description,
                }
                for c in t.columns
            ],
        }
        for name, t in CANONICAL_TABLES.items()
    }


def splice_generated(document: str) -> str:
    """The document with the generated block replaced by the current schema."""
    start = document.index(BEGIN_MARKER) + len(BEGIN_MARKER)
    end = document.index(END_MARKER)
    return document[:start] + "\n\n" + render_schema_markdown() + "\n" + document[end:]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path("docs/data-model.md")
    path.write_text(splice_generated(path.read_text("utf-8")), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
