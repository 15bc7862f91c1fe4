"""What an environment is made of, decided from andon.yaml alone: its instances and their
commands, its names on the agent, its migrations, and whether a process runs a command."""

from __future__ import annotations

from andon.environments import (
    agent_environment,
    instance_counts,
    instance_id,
    instance_name,
    plan_instances,
    resolve_environment,
)
from andon.environments.declaring import (
    declared_migrations,
    process_command,
    routing,
    same_command,
)
from andon.spec import AndonSpec, ProcessSpec


def test_instances_come_from_the_environment_then_each_process(shop_spec: AndonSpec) -> None:
    assert instance_counts(shop_spec, resolve_environment(shop_spec, "prod")) == {"web": 3}
    assert instance_counts(shop_spec, resolve_environment(shop_spec, "dev")) == {"web": 1}
    # staging copies test's {web: 1}; with none given, the process's own 2.
    assert instance_counts(shop_spec, resolve_environment(shop_spec, "staging")) == {"web": 1}
    bare = resolve_environment(shop_spec, "prod").model_copy(update={"instances": None})
    assert instance_counts(shop_spec, bare) == {"web": 2}
    planned = plan_instances(shop_spec, resolve_environment(shop_spec, "prod"))
    assert [(p.name, p.command, p.health_path, p.stop_timeout) for p in planned] == [
        ("web-1", "python -m shop", "/healthz", 10.0),
        ("web-2", "python -m shop", "/healthz", 10.0),
        ("web-3", "python -m shop", "/healthz", 10.0),
    ]


def test_names_on_the_agent_carry_the_project() -> None:
    assert agent_environment("shop", "test") == "shop.test"
    assert instance_id("shop", "test", "web-1") == "shop.test.web-1"
    assert instance_name("shop", "test", "shop.test.web-1") == "web-1"


def test_a_process_learns_its_port_through_its_own_variable() -> None:
    assert process_command(ProcessSpec(command="python -m shop")) == "python -m shop"
    other = ProcessSpec(command="node server.js", port_env="HTTP_PORT")
    assert process_command(other) == 'export HTTP_PORT="$PORT"; node server.js'


def test_the_router_sends_everything_to_the_one_version(shop_spec: AndonSpec) -> None:
    assert routing(shop_spec, "7b3f46853c21ac02b2109") == {
        "process": "web",
        "weights": {"7b3f46853c21": 100},
    }


def test_migrations_are_the_files_of_the_declared_directory(shop_spec: AndonSpec) -> None:
    files = ["migrations/0002_cart_orders.sql", "migrations/0001_catalog.sql", "shop/db.py"]
    assert declared_migrations(shop_spec, files) == ["0001_catalog", "0002_cart_orders"]


def test_a_process_runs_its_command_wherever_its_program_was_found() -> None:
    assert same_command(["python", "-m", "shop"], "python -m shop")
    # A version manager's shim execs the real interpreter under its full path.
    assert same_command(["/root/.pyenv/versions/3.11.7/bin/python", "-m", "shop"], "python -m shop")
    assert same_command(["/bin/bash", "-c", "cd x && run"], "cd x && run")
    assert not same_command(["python", "-m", "shop", "--debug"], "python -m shop")
    assert not same_command(["ruby", "-m", "shop"], "python -m shop")
