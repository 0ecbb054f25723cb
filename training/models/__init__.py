"""Feature definitions of each registered model: the documented feature list,
what is excluded and why, business phrases, parameters and frame builders
that take canonical-shaped tables (see `features/ingest/schema.py`)."""
