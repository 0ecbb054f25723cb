"""Method depth: the calculators and the service's API methods called directly
(no HTTP), on the real commission engine and the spec's worked example."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _serving_support import REPS, WORKED_PLAN, quotas, transactions

from serving import calculators
from serving.adapters.key_store import SqlKeyStore
from serving.adapters.team_directory import InMemoryTeamDirectory
from serving.bootstrap import Runtime, build_runtime, use_runtime
from serving.errors import ForbiddenError, InvalidRequestError, PayloadTooLargeError
from serving.ports import CalculationInputs, EstimateInputs, QuotaStatusInputs
from serving.schemas import OpenDeal, QuotaRow, TransactionRow
from serving.security import Principal, Role
from serving.settings import ServingSettings


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return build_runtime(
        ServingSettings(data_dir=tmp_path, max_rows=50),
        keys=SqlKeyStore(f"sqlite:///{tmp_path / 'k.sqlite'}"),
        teams=InMemoryTeamDirectory(REPS),
    )


def _tx(rep: str = "R1") -> list[TransactionRow]:
    return [TransactionRow.model_validate(t) for t in transactions(rep)]


def _quotas(rep: str = "R1") -> list[QuotaRow]:
    return [QuotaRow.model_validate(q) for q in quotas(rep)]


REP = Principal("k1", Role.REP, "R1")
MANAGER = Principal("k2", Role.MANAGER, "M1")
EXECUTIVE = Principal("k3", Role.EXECUTIVE)


def test_worked_example_marginal(runtime: Runtime) -> None:
    result = calculators.calculate_commissions(
        runtime, REP, CalculationInputs(WORKED_PLAN, _tx(), _quotas())
    )
    assert [line.amount for line in result.lines] == [
        Decimal("0.00"),
        Decimal("2400.00"),
        Decimal("4600.00"),
    ]
    (statement,) = result.statements
    assert (statement.payout, statement.attainment) == (Decimal("7000.00"), Decimal("1.250000"))
    assert result.run.engine_version and len(result.run.plan_hash) == 64


def test_manager_sees_the_team_but_not_beyond(runtime: Runtime) -> None:
    team = calculators.calculate_commissions(
        runtime,
        MANAGER,
        CalculationInputs(WORKED_PLAN, _tx("R1") + _tx("R2"), _quotas("R1") + _quotas("R2")),
    )
    assert {s.rep_id for s in team.statements} == {"R1", "R2"}
    with pytest.raises(ForbiddenError, match="R9"):
        calculators.calculate_commissions(
            runtime, MANAGER, CalculationInputs(WORKED_PLAN, _tx("R9"))
        )


def test_a_rep_cannot_ask_about_a_colleague(runtime: Runtime) -> None:
    with pytest.raises(ForbiddenError, match="R2"):
        calculators.calculate_commissions(runtime, REP, CalculationInputs(WORKED_PLAN, _tx("R2")))
    with pytest.raises(ForbiddenError):
        calculators.estimate_earnings(
            runtime, REP, EstimateInputs(WORKED_PLAN, "R2", [_deal("R2-D")])
        )


def test_bad_plan_is_a_422_with_plan_paths(runtime: Runtime) -> None:
    bad = {**WORKED_PLAN, "rounding": "up"}
    with pytest.raises(InvalidRequestError) as info:
        calculators.calculate_commissions(runtime, EXECUTIVE, CalculationInputs(bad, _tx()))
    assert [f.path for f in info.value.fields] == ["plan.rounding"]


def test_engine_input_errors_name_the_row(runtime: Runtime) -> None:
    euro = [TransactionRow.model_validate({**transactions()[0], "currency": "EUR"})]
    with pytest.raises(InvalidRequestError, match=r"fx: no rate from EUR to USD.*row 1"):
        calculators.calculate_commissions(runtime, EXECUTIVE, CalculationInputs(WORKED_PLAN, euro))


def test_row_limit(runtime: Runtime) -> None:
    many = _tx() * 20
    with pytest.raises(PayloadTooLargeError, match="limit of 50"):
        calculators.calculate_commissions(runtime, EXECUTIVE, CalculationInputs(WORKED_PLAN, many))


def _deal(tx: str, probability: str | None = "0.6") -> OpenDeal:
    return OpenDeal.model_validate(
        {"transaction_id": tx, "amount": "20000.00", "currency": "USD",
         "credit_date": "2025-03-28", "probability": probability}
    )  # fmt: skip


def test_estimate_adds_the_marginal_commission_of_each_deal(runtime: Runtime) -> None:
    estimate = calculators.estimate_earnings(
        runtime, REP, EstimateInputs(WORKED_PLAN, "R1", [_deal("R1-D")], _tx()[:2], _quotas())
    )
    (deal,) = estimate.deals
    # 80,000 credited; 20,000 more at 8% up to 100% of quota = 1,600.00.
    assert (deal.payout_without, deal.payout_with, deal.incremental) == (
        Decimal("2400.00"), Decimal("4000.00"), Decimal("1600.00"),
    )  # fmt: skip
    assert deal.expected_incremental == Decimal("960.00")
    assert estimate.expected_total == Decimal("960.00")


def test_estimate_without_probabilities_has_no_expected_total(runtime: Runtime) -> None:
    estimate = calculators.estimate_earnings(
        runtime, REP, EstimateInputs(WORKED_PLAN, "R1", [_deal("R1-D", None)], _tx()[:2], _quotas())
    )
    assert estimate.expected_total is None and estimate.total_incremental == Decimal("1600.00")


def test_quota_status_mid_quarter(runtime: Runtime) -> None:
    from datetime import UTC, datetime

    report = calculators.quota_status(
        runtime,
        MANAGER,
        QuotaStatusInputs(
            _quotas("R1"), _tx("R1"), "revenue", "USD", datetime(2025, 2, 15, tzinfo=UTC)
        ),
    )
    (status,) = report.statuses
    assert (status.achieved, status.target, status.status) == (
        Decimal("80000.00"),
        Decimal("100000.00"),
        "On Track",
    )
    assert status.attainment == Decimal("0.8")


# -- the BentoML service class, its methods called directly -------------------


@pytest.fixture
def service(runtime: Runtime) -> Iterator[Any]:
    from serving.service import SpmService

    with use_runtime(runtime):
        yield SpmService()


def _ctx(principal: Principal | None) -> Any:
    state = SimpleNamespace() if principal is None else SimpleNamespace(spm_principal=principal)
    return SimpleNamespace(request=SimpleNamespace(state=state))


def test_service_method_returns_the_worked_example(service: Any) -> None:
    result = service.calculate_commissions(
        plan=WORKED_PLAN, transactions=_tx(), quotas=_quotas(), ctx=_ctx(REP)
    )
    assert result.statements[0].payout == Decimal("7000.00")


def test_service_method_hands_errors_to_the_guard(service: Any) -> None:
    from bentoml.exceptions import BentoMLException

    ctx = _ctx(REP)
    with pytest.raises(BentoMLException) as info:
        service.calculate_commissions(plan=WORKED_PLAN, transactions=_tx("R2"), ctx=ctx)
    assert info.value.error_code == 403
    assert isinstance(ctx.request.state.spm_error, ForbiddenError)
    with pytest.raises(BentoMLException) as info:
        service.calculate_commissions(plan=WORKED_PLAN, transactions=_tx(), ctx=_ctx(None))
    assert info.value.error_code == 401


# -- readiness and missing components ------------------------------------------


class _FakeModels:
    """A provider with deal_risk loaded from the registry and nothing else."""

    def status(self) -> list[Any]:
        from serving.ports import ModelInfo

        return [
            ModelInfo("deal_risk", "champion", True, "models:/deal_risk@champion", "7"),
            ModelInfo("lead_scoring", "champion", False, detail="no champion alias"),
        ]

    def get(self, name: str) -> Any:
        raise NotImplementedError


def test_readiness_reports_models_and_gates_on_required_ones(tmp_path: Path) -> None:
    from serving.health import readiness

    def runtime_requiring(*names: str) -> Runtime:
        return build_runtime(
            ServingSettings(data_dir=tmp_path, required_models=names),
            keys=SqlKeyStore(f"sqlite:///{tmp_path / 'k.sqlite'}"),
            teams=InMemoryTeamDirectory(REPS),
            models=_FakeModels(),
        )

    report = readiness(runtime_requiring("deal_risk"))
    assert report.ready
    deal_risk = next(m for m in report.models if m.name == "deal_risk")
    assert (deal_risk.loaded, deal_risk.source, deal_risk.version, deal_risk.required) == (
        True, "models:/deal_risk@champion", "7", True,
    )  # fmt: skip
    assert not readiness(runtime_requiring("deal_risk", "lead_scoring")).ready


def test_missing_roster_is_503_for_managers_only(tmp_path: Path) -> None:
    from serving.adapters.team_directory import ParquetTeamDirectory
    from serving.errors import UnavailableError

    runtime = build_runtime(
        ServingSettings(data_dir=tmp_path),
        keys=SqlKeyStore(f"sqlite:///{tmp_path / 'k.sqlite'}"),
        teams=ParquetTeamDirectory(tmp_path / "missing" / "reps.parquet"),
    )
    inputs = CalculationInputs(WORKED_PLAN, _tx(), _quotas())
    assert calculators.calculate_commissions(runtime, REP, inputs).statements
    with pytest.raises(UnavailableError, match="reps table was not found") as info:
        calculators.calculate_commissions(runtime, MANAGER, inputs)
    assert str(tmp_path) not in info.value.message  # no server paths in responses
