"""Suite-wide settings: no telemetry, the shared datasets' location, services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("FEAST_USAGE", "False")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("SPM_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
POSTGRES_URL = os.environ.get(
    "SPM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SPM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory common to all xdist workers of this run, and only this run
    (under xdist each worker's base temp is <run>/popen-gwN)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "data").is_dir():
        pytest.fail(f"shared datasets not found at {SHARED_DIR} (set SPM_SHARED_DIR)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def shared_import_dir(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the shared datasets imported once for the whole run.

    Importing all six datasets costs ~20 s of CPU, so it happens once per test
    run, shared across pytest-xdist workers through a file lock. Treat it as
    READ-ONLY: a test that writes must import into its own directory.
    """
    from filelock import FileLock

    from features.ingest.importer import import_shared_datasets
    from features.ingest.storage import open_store

    root = _run_root(tmp_path_factory)
    data_dir = root / "shared-import" / "data"
    done = root / "shared-import" / "done"
    with FileLock(str(root / "shared-import.lock")):
        if not done.exists():
            import_shared_datasets(shared_dir, open_store(data_dir))
            done.touch()
    return data_dir


@pytest.fixture(scope="session")
def shared_feature_dir(
    shared_import_dir: Path, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of `shared_import_dir`, synthetically enriched (default seed) and with
    the feature tables built (AdventureWorks on territory crediting, as
    `spm features apply --shared` does) and the Feast repo
    applied; built once per run across xdist workers. READ-ONLY, like its source:
    a test that materializes or writes must copy it first."""
    import shutil

    from filelock import FileLock

    from features import feature_store
    from features.ingest.enrichment import enrich
    from features.ingest.storage import open_store
    from features.territories import shared_territory_assignments

    root = _run_root(tmp_path_factory)
    data_dir = root / "shared-features" / "data"
    done = root / "shared-features" / "done"
    with FileLock(str(root / "shared-features.lock")):
        if not done.exists():
            if data_dir.exists():
                shutil.rmtree(data_dir)
            shutil.copytree(shared_import_dir, data_dir, symlinks=True)
            store = open_store(data_dir)
            # as `make demo` does: seeded synthetic enrichment first (Maven's derived quotas)
            tables = {name: store.read_table(name) for name in store.table_names()}
            store.write_tables(enrich(tables).updated_tables(), mode="replace")
            assignments = shared_territory_assignments(shared_dir, store.read_table("org_units"))
            feature_store.build_feature_tables(store, data_dir, territory_assignments=assignments)
            feature_store.apply(data_dir)
            done.touch()
    return data_dir
