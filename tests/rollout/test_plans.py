"""Plans from andon.yaml: the example shop's release, batches as percentages, breaking
migrations forcing recreate, the warnings said before a rollout starts, and plans kept
as JSON beside the rollout."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from andon.errors import UsageError
from andon.rollout import RolloutPlan, StepKind, assess_plan, plan_rollout
from andon.spec import load_spec

from .conftest import make_plan

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "andon.yaml"


def test_the_shop_release_becomes_a_canary_plan() -> None:
    spec = load_spec(SHOP)
    assert spec.database is not None
    plan = plan_rollout(spec.release, instances=3, migrations=spec.database.migrations)

    assert [step.kind for step in plan.steps] == [
        StepKind.HEADER_ROUTE,
        StepKind.WEIGHT,
        StepKind.ANALYSIS,
        StepKind.WEIGHT,
        StepKind.BAKE,
        StepKind.MIRROR,
        StepKind.WEIGHT,
        StepKind.PAUSE,
        StepKind.ANALYSIS,
    ]
    assert plan.metrics == ("errors", "latency", "orders")
    assert plan.steps[2].metrics == ("errors", "latency")
    assert plan.finalize_delay == timedelta(seconds=30)
    assert plan.rollback_safe and plan.warnings == ()
    assert plan.migration_timeout == timedelta(minutes=3)


@pytest.mark.parametrize(
    ("batch", "instances", "count"),
    [(1, 3, 1), ("25%", 10, 3), ("50%", 3, 2), (5, 3, 3), ("1%", 3, 1)],
)
def test_batches_are_counts_or_shares_of_the_instances(
    batch: object, instances: int, count: int
) -> None:
    plan = make_plan({"strategy": "rolling", "rolling": {"batch": batch}}, instances=instances)

    assert plan.batch == count


def test_breaking_migrations_force_recreate_and_say_so() -> None:
    plan = make_plan({"strategy": "canary"}, breaking=["0007_drop_price"])

    assert plan.strategy.value == "recreate" and not plan.rollback_safe
    assert plan.warnings[0].startswith("migrations 0007_drop_price are breaking")


def test_incompatible_migrations_warn_that_rollback_is_unsafe() -> None:
    plan = make_plan({"strategy": "canary"}, migrations={"command": "m", "compatible": False})

    assert any("rollback by traffic switch is unsafe" in warning for warning in plan.warnings)
    assert assess_plan(plan) == plan.warnings


def test_analysis_steps_without_metrics_warn() -> None:
    plan = make_plan({"strategy": "canary", "steps": [{"weight": "10%"}, {"analysis": {}}]})

    assert plan.warnings == (
        "the canary has analysis steps but release.analysis declares no metrics; each "
        "analysis step will pause for a person",
    )


def test_a_rollout_of_no_instances_is_refused() -> None:
    with pytest.raises(UsageError, match="at least one instance"):
        make_plan({"strategy": "canary"}, instances=0)


def test_a_plan_survives_json(tmp_path: Path) -> None:
    plan = make_plan(
        dict(load_spec(SHOP).release.model_dump(mode="json", exclude_defaults=True)),
        migrations={"command": "m", "compatible": False},
        requires_approval=True,
    )

    assert RolloutPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
