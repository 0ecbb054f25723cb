"""`spm serve check`: the service end to end over real HTTP, on real data.

Starts `spm serve` in the background on a free loopback port (its own
process group), waits for `/readyz` and for the models to load (bounded),
scores real entities by id through `/v1/score/lead|deal|attainment`, posts
one rep's slice of the exported commission inputs with a plan to
`/v1/commissions/calculate`, prints what came back, and always stops the
server. An API key (role `service`) is created for the run and revoked at
the end; the slice sent is written beside the answer so the same numbers
can be reproduced with `spm commissions calculate`.

Imported lazily by `spm_cli.serve` (the HTTP client and the data readers are
only needed when the verb runs).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer

from spm_cli.common import log

SCORE_ENDPOINTS: dict[str, tuple[str, str]] = {
    # kind -> (path, model)
    "lead": ("/v1/score/lead", "lead_scoring"),
    "deal": ("/v1/score/deal", "deal_risk"),
    "attainment": ("/v1/score/attainment", "attainment"),
}
OPEN_STAGES = ("prospecting", "qualification", "engaging", "proposal", "negotiation")
# Fields of the calculate request's tables (serving/schemas.py); others are dropped.
QUOTA_FIELDS = ("rep_id", "period", "quota")
ROSTER_FIELDS = (
    "rep_id", "manager_id", "team", "region", "role", "hire_date", "terminated_date",
)  # fmt: skip
FX_FIELDS = ("period", "from_currency", "to_currency", "rate")


class CheckError(RuntimeError):
    """A step of the check failed; the message says which and why."""


@dataclass
class CheckResult:
    url: str = ""
    ready_seconds: float = 0.0
    models: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    statement: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


# ----------------------------------------------------------------- picking real entities


def pick_entities(data_dir: Path, per_kind: int = 3) -> dict[str, list[str]]:
    """Real ids the online store knows: X Education leads, a Maven CRM open deal and
    two IBM deals, AdventureWorks reps and one Maven rep (sorted, so the pick is
    repeatable)."""
    import pandas as pd

    features = data_dir / "features"
    canonical = data_dir / "canonical"
    try:
        leads = pd.read_parquet(canonical / "leads.parquet", columns=["lead_id", "source"])
        opps = pd.read_parquet(
            canonical / "opportunities.parquet", columns=["opportunity_id", "stage", "source"]
        )
        reps = pd.read_parquet(canonical / "reps.parquet", columns=["rep_id", "source"])
        lead_rows = pd.read_parquet(features / "lead_created_stats.parquet", columns=["lead_id"])
        opp_rows = pd.read_parquet(
            features / "opportunity_event_stats.parquet", columns=["opportunity_id"]
        )
        rep_rows = pd.read_parquet(features / "rep_daily_stats.parquet", columns=["rep_id"])
    except OSError as exc:
        raise CheckError(
            f"cannot pick entities from {data_dir} ({exc}); run the import and "
            "`spm features apply` first, or pass --lead/--deal/--rep"
        ) from None
    known_leads = set(lead_rows["lead_id"])
    lead_ids = sorted(
        i for i in leads.loc[leads["source"] == "x_education", "lead_id"] if i in known_leads
    )
    known_opps = set(opp_rows["opportunity_id"])
    open_maven = opps[(opps["source"] == "maven_crm") & opps["stage"].isin(OPEN_STAGES)]
    deal_ids = sorted(i for i in open_maven["opportunity_id"] if i in known_opps)
    # The champion deal_risk model is trained on IBM win-loss (Maven's outcomes carry
    # no signal, docs/models.md): score IBM deals too, as if still open.
    ibm = opps[opps["source"] == "ibm_win_loss"]
    ibm_ids = sorted(i for i in ibm["opportunity_id"] if i in known_opps)
    known_reps = set(rep_rows["rep_id"])
    by_source = reps[reps["rep_id"].isin(known_reps)].groupby("source")["rep_id"]
    groups = {source: sorted(ids) for source, ids in by_source}
    aw = [r for source, ids in groups.items() if source.startswith("adventureworks") for r in ids]
    maven = groups.get("maven_crm", [])
    return {
        "lead": lead_ids[:per_kind],
        "deal": deal_ids[: max(per_kind - 2, 1)] + ibm_ids[:2],
        "attainment": sorted(aw)[: max(per_kind - 1, 1)] + maven[:1],
    }


# ----------------------------------------------------------------- the commission request


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror}") from None


def _clean(row: dict[str, str], keep: Sequence[str] | None = None) -> dict[str, str]:
    """Blank cells are absent values; `keep` limits the row to the request's fields."""
    return {k: v for k, v in row.items() if v not in ("", None) and (keep is None or k in keep)}


def _json_plan(value: Any) -> Any:
    """The plan document as JSON: exact Decimals travel as strings (never floats)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_plan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_plan(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def calculate_request(plan_path: Path, inputs: Path, rep_id: str) -> dict[str, Any]:
    """The calculate body for one rep: the plan (JSON contract) and the rep's
    transactions and quotas from the exported inputs, with the full roster (so the
    manager override shows) and fx table."""
    from spm_domain.commissions.plan import load_plan, parse_plan_text

    try:
        text = plan_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"cannot read plan {plan_path}: {exc.strerror}") from None
    document = parse_plan_text(text, source=str(plan_path))
    load_plan(plan_path)  # validate locally first: errors name the key at fault
    transactions = [
        _clean(r) for r in _read_csv(inputs / "transactions.csv") if r.get("rep_id") == rep_id
    ]
    if not transactions:
        raise CheckError(f"rep {rep_id!r} has no transactions in {inputs / 'transactions.csv'}")
    body: dict[str, Any] = {
        "plan": _json_plan(document),
        "transactions": transactions,
        "quotas": [
            _clean(r, QUOTA_FIELDS)
            for r in _read_csv(inputs / "quotas.csv")
            if r.get("rep_id") == rep_id
        ],
    }
    if (inputs / "roster.csv").is_file():
        body["roster"] = [_clean(r, ROSTER_FIELDS) for r in _read_csv(inputs / "roster.csv")]
    if (inputs / "fx.csv").is_file():
        body["fx"] = [_clean(r, FX_FIELDS) for r in _read_csv(inputs / "fx.csv")]
    return body


def write_slice(body: dict[str, Any], out: Path) -> dict[str, Path]:
    """The request's tables as CSVs (what `spm commissions calculate` reads)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for table in ("transactions", "quotas", "roster", "fx"):
        rows = body.get(table)
        if not rows:
            continue
        columns = list(dict.fromkeys(k for row in rows for k in row))
        path = out / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        paths[table] = path
    (out / "request.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
    return paths


# ----------------------------------------------------------------- the server


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path, port: int, env: dict[str, str], log_path: Path, startup_timeout: float
) -> Iterator[str]:
    """`spm serve` in its own process group; yields its URL once /readyz answers 200.
    The whole group (spm -> bentoml -> workers) is stopped on the way out."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "spm_cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(
            command, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.info("started spm serve (pid %d) on %s; log %s", process.pid, url, log_path)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if process.poll() is not None:
                    raise CheckError(
                        f"spm serve exited with {process.returncode} before it was ready:\n"
                        + _tail(log_path)
                    )
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise CheckError(
                        f"spm serve not ready after {startup_timeout:.0f} s:\n" + _tail(log_path)
                    )
                time.sleep(0.5)
            yield url
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    log.info("stopped spm serve (pid %d)", process.pid)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no server log)"


# ----------------------------------------------------------------- the check


def parse_request_time(value: str | None) -> str | None:
    """ISO date or datetime -> UTC ISO datetime; a bare date means the end of that day."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or datetime", param_hint="--request-time"
        ) from None
    if len(value) == 10:
        parsed += dt.timedelta(days=1)
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat()


def loaded_models(client: Any, names: Sequence[str]) -> list[dict[str, Any]]:
    """What /v1/health/ready says about the models (the service loads them before
    it reports ready, so this is final)."""
    response = client.get("/v1/health/ready")
    body = _json(response)
    if not isinstance(body, dict) or "models" not in body:
        raise CheckError(f"GET /v1/health/ready: {response.status_code} {_brief(body)}")
    return [m for m in body["models"] if m.get("name") in names]


def run_check(
    *,
    data_dir: Path,
    tracking_uri: str,
    entities: dict[str, list[str]],
    request_time: str | None,
    plan: Path,
    inputs: Path,
    statement_rep: str,
    out: Path,
    port: int,
    startup_timeout: float,
    request_timeout: float,
) -> CheckResult:
    import httpx

    from serving.bootstrap import key_store
    from serving.security import Role, issue_key
    from serving.settings import load_settings

    body = calculate_request(plan, inputs, statement_rep)
    slice_paths = write_slice(body, out / "slice")
    env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "FEAST_USAGE": "False",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "SPM_DATA_DIR": str(data_dir.resolve()),
        "SPM_SERVING_MLFLOW_TRACKING_URI": tracking_uri,
        "BENTOML_HOME": str((data_dir / "serving" / "bentoml").resolve()),
    }
    settings = load_settings(env)
    keys = key_store(settings)
    issued = issue_key(Role.SERVICE, None, "spm serve check (revoked when the check ends)")
    keys.add(issued.record)
    result = CheckResult()
    chosen_port = port or free_port()
    try:
        started = time.perf_counter()
        with running_server(data_dir, chosen_port, env, out / "server.log", startup_timeout) as url:
            result.url = url
            headers = {"Authorization": f"Bearer {issued.plain_key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=request_timeout) as client:
                wanted = [SCORE_ENDPOINTS[k][1] for k, ids in entities.items() if ids]
                result.models = loaded_models(client, wanted)
                result.ready_seconds = round(time.perf_counter() - started, 1)
                for kind, ids in entities.items():
                    if not ids:
                        continue
                    path = SCORE_ENDPOINTS[kind][0]
                    payload: dict[str, Any] = {"ids": ids}
                    if request_time:
                        payload["request_time"] = request_time
                    response = client.post(path, json=payload)
                    answer = _json(response)
                    result.scores[kind] = {
                        "path": path,
                        "request": payload,
                        "status": response.status_code,
                        "answer": answer,
                    }
                    if response.status_code != 200:
                        result.failures.append(
                            f"POST {path}: {response.status_code} {_brief(answer)}"
                        )
                response = client.post("/v1/commissions/calculate", json=body)
                answer = _json(response)
                result.statement = {
                    "rep_id": statement_rep,
                    "status": response.status_code,
                    "answer": answer,
                    "slice": {k: str(v) for k, v in slice_paths.items()},
                }
                if response.status_code != 200:
                    result.failures.append(
                        f"POST /v1/commissions/calculate: {response.status_code} {_brief(answer)}"
                    )
                else:
                    (out / "calculate-response.json").write_text(
                        json.dumps(answer, indent=1), encoding="utf-8"
                    )
    finally:
        try:
            keys.revoke(issued.record.key_id, dt.datetime.now(dt.UTC))
        finally:
            dispose = getattr(keys, "dispose", None)
            if dispose is not None:
                dispose()
    return result


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text[:500]}


def _brief(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        return str(answer["error"].get("message", ""))[:300]
    return json.dumps(answer)[:300]


# ----------------------------------------------------------------- printing


def statement_totals(answer: dict[str, Any]) -> dict[str, Decimal]:
    """Payout per rep over the statements of an answer (exact decimals)."""
    totals: dict[str, Decimal] = {}
    for row in answer.get("statements", []):
        totals[row["rep_id"]] = totals.get(row["rep_id"], Decimal(0)) + Decimal(row["payout"])
    return totals


def _factors(score: dict[str, Any]) -> str:
    plus = [f"+ {f['phrase']}" for f in score.get("positive_factors", [])]
    minus = [f"- {f['phrase']}" for f in score.get("negative_factors", [])]
    return "\n".join(plus + minus)


def print_result(result: CheckResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    console.print(f"service ready at {result.url} in {result.ready_seconds} s")
    for model in result.models:
        where = model.get("source") or model.get("detail") or ""
        state = f"v{model.get('version')}" if model.get("loaded") else "NOT LOADED"
        console.print(f"  model {model['name']:<13} {state:<10} {where}")
    for call in result.scores.values():
        answer = call["answer"]
        if call["status"] != 200:
            console.print(f"POST {call['path']} -> {call['status']}: {_brief(answer)}")
            continue
        table = Table(
            title=f"POST {call['path']}  {answer['model']} v{answer['model_version']} "
            f"({answer['feature_service']}, request_time "
            f"{call['request'].get('request_time', 'now')})",
            title_justify="left",
        )
        for column in ("id", "probability", "score", "tier", "top factors (+ for, - against)"):
            table.add_column(column, overflow="fold")
        for score in answer["scores"]:
            table.add_row(
                score["id"], f"{score['probability']:.3f}", str(score["score"]), score["tier"],
                _factors(score),
            )  # fmt: skip
        console.print(table)
    statement = result.statement
    if not statement:
        return
    if statement["status"] != 200:
        console.print(
            f"POST /v1/commissions/calculate -> {statement['status']}: "
            f"{_brief(statement['answer'])}"
        )
        return
    answer = statement["answer"]
    table = Table(
        title=f"POST /v1/commissions/calculate  statements for {statement['rep_id']}'s slice "
        f"({len(answer['lines'])} lines)",
        title_justify="left",
    )
    for column in ("rep", "period", "credited", "quota", "attainment", "gross", "adj.", "payout"):
        table.add_column(column, justify="left" if column in ("rep", "period") else "right")
    for row in answer["statements"]:
        table.add_row(
            row["rep_id"], row["period"], row["credited"], row.get("quota") or "",
            row.get("attainment") or "", row["gross"], row["adjustments"],
            f"{row['payout']} {row['currency']}",
        )  # fmt: skip
    console.print(table)
    for rep, total in statement_totals(answer).items():
        console.print(f"  total payout {rep}: {total}")
    for line in answer["lines"][:3]:
        console.print(f"  e.g. {line['period']} {line['component']}: {line['explanation']}")


def local_totals(plan: Path, slice_paths: dict[str, str]) -> dict[str, Decimal]:
    """The same slice through the engine in this process (what `spm commissions
    calculate` computes): payout per rep, for the cross-check."""
    import io

    from spm_domain.commissions import calculate_commissions, run_documents

    result = calculate_commissions(
        str(plan),
        Path(slice_paths["transactions"]),
        *(Path(slice_paths[t]) if t in slice_paths else None for t in ("quotas", "roster", "fx")),
    )
    rows = csv.DictReader(io.StringIO(run_documents(result)["statements.csv"].decode("utf-8")))
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row["rep_id"]] = totals.get(row["rep_id"], Decimal(0)) + Decimal(row["payout"])
    return totals
