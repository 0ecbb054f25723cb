"""A real server: `spm serve` (which runs `bentoml serve`) in a subprocess on a
free loopback port, driven with an HTTP client.
Readiness is awaited with a bounded timeout and the server is always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _serving_support import calculate_body, write_reps

from serving.adapters.key_store import SqlKeyStore
from serving.security import Role, issue_key
from serving.settings import load_settings

STARTUP_TIMEOUT_S = 120.0
SPM = [str(Path(sys.executable).with_name("spm"))]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BENTOML_DO_NOT_TRACK="true",
        FEAST_USAGE="False",
        MLFLOW_DISABLE_TELEMETRY="true",
        SPM_DATA_DIR=str(data_dir),
        BENTOML_HOME=str(data_dir / "bentoml"),
    )
    return env


def _create_key(data_dir: Path, role: Role, rep: str | None = None) -> str:
    # Keys are made in-process (the CLI verbs are covered in tests/unit/serving).
    store = SqlKeyStore(load_settings(_env(data_dir)).resolved_key_store_url)
    issued = issue_key(role, rep, "e2e")
    store.add(issued.record)
    store.dispose()
    return issued.plain_key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("e2e")
    write_reps(data_dir)
    env = _env(data_dir)
    keys = {
        "rep": _create_key(data_dir, Role.REP, "R1"),
        "admin": _create_key(data_dir, Role.ADMIN),
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SPM, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                    )
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"server not ready after {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.5)
            yield url, keys
        finally:
            # Stop the whole process group we started (spm → bentoml → workers).
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_worked_example_over_real_http(server: tuple[str, dict[str, str]]) -> None:
    url, keys = server
    response = httpx.post(
        f"{url}/v1/commissions/calculate",
        json=calculate_body("R1"),
        headers={"Authorization": f"Bearer {keys['rep']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [line["amount"] for line in body["lines"]] == ["0.00", "2400.00", "4600.00"]
    assert body["statements"][0]["payout"] == "7000.00"


def test_scope_auth_and_pickle_over_real_http(server: tuple[str, dict[str, str]]) -> None:
    url, keys = server
    rep = {"Authorization": f"Bearer {keys['rep']}"}
    endpoint = f"{url}/v1/commissions/calculate"
    assert (
        httpx.post(endpoint, json=calculate_body("R2"), headers=rep, timeout=30).status_code == 403
    )
    assert httpx.post(endpoint, json=calculate_body("R1"), timeout=30).status_code == 401
    pickled = httpx.post(
        endpoint,
        content=b"\x80\x04\x95\x00",
        headers={**rep, "Content-Type": "application/vnd.bentoml+pickle"},
        timeout=30,
    )
    assert pickled.status_code == 415


def test_readiness_and_our_metrics_on_the_real_server(server: tuple[str, dict[str, str]]) -> None:
    url, keys = server
    ready = httpx.get(f"{url}/v1/health/ready", headers={"X-API-Key": keys["admin"]}, timeout=30)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    httpx.get(f"{url}/v1/health", headers={"X-API-Key": keys["admin"]}, timeout=30)
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    assert 'spm_api_requests_total{endpoint="/v1/health",method="GET",status="200"}' in metrics
    assert "spm_api_request_duration_seconds_bucket" in metrics
    assert "bentoml_" in metrics  # BentoML's own metrics are still there
