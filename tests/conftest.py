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

    root = tmp_path_factory.getbasetemp().parent  # common to all xdist workers of this run
    data_dir = root / "shared-import" / "data"
    done = root / "shared-import" / "done"
    with FileLock(str(root / "shared-import.lock")):
        if not done.exists():
            import_shared_datasets(shared_dir, open_store(data_dir))
            done.touch()
    return data_dir
