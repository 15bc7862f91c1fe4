"""``andon experiment results KEY --env E`` and ``andon experiment list --env E``: an
environment's A/B experiments over the server's experiments API — per variant
exposures, conversions, rate, lift against the control with its confidence interval,
p-value and probability to be best, then the sample-ratio check and what the results
allow one to say. ``--json`` prints what the API answers.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from andon.cli._client import ApiClient
from andon.cli._common import Json, ProjectOption, Url, client, resolve_project
from andon.cli._output import emit_json, say
from andon.errors import UsageError

app = typer.Typer(help="A/B experiments on a flag's variants.", no_args_is_help=True)

Key = Annotated[str, typer.Argument(help="The flag the experiment is on.", show_default=False)]
Env = Annotated[str, typer.Option("--env", "-e", help="The environment.", show_default=False)]


def _base(api: ApiClient, project: str | None, environment: str) -> str:
    return f"/projects/{resolve_project(api, project)}/environments/{environment}/experiments"


@app.command("results")
def results(
    key: Key,
    env: Env,
    project: ProjectOption = None,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Of the intervals, between 0 and 1.")
    ] = 0.95,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Per variant: exposures, conversions, rate, lift with its interval, p-value and
    probability to be best; then the sample-ratio check and the verdict."""
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence is between 0 and 1 (e.g. 0.95), not {confidence:g}.")
    with client(url) as api:
        found = api.get(f"{_base(api, project, env)}/{key}?confidence={confidence}")
    if as_json:
        emit_json(found)
        return
    say(
        f"experiment on {found['flag']} in {found['environment']}: goal {found['goal']}, "
        f"control {found['control']} (flag set version {found['version']})"
    )
    level = f"{found['confidence'] * 100:g}% CI"
    table = Table(box=None)
    for column in ("variant", "exposures", "conversions", "rate", f"lift ({level})"):
        table.add_column(column, no_wrap=True)
    table.add_column("p-value", no_wrap=True)
    table.add_column("P(best)", no_wrap=True)
    for variant in found["variants"]:
        table.add_row(
            variant["name"],
            f"{variant['exposures']:,}",
            f"{variant['conversions']:,}",
            _percent(variant["rate"]),
            "control" if variant["name"] == found["control"] else _lift(variant["lift"]),
            _p_value(variant["lift"]),
            _chance(variant["probability_best"]),
        )
    # Rows stay whole on a narrow terminal, as the sentences below do.
    Console(width=max(Console().width, 120)).print(table)
    ratio = found.get("sample_ratio")
    message = found["message"]
    if ratio is not None:
        say(f"sample ratio: {ratio['message']}")
        if message == ratio["message"]:
            message = "no comparison can be trusted until the assignment is fixed"
    say(f"{found['status'].replace('_', ' ')}: {message}")


@app.command("list")
def list_experiments(
    env: Env, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """The environment's experiments, each with its exposures and status."""
    with client(url) as api:
        found = api.get(_base(api, project, env))
    if as_json:
        emit_json(found)
        return
    if not found["experiments"]:
        say(f"no experiments in {found['environment']}; declare them under flags.experiments")
        return
    for item in found["experiments"]:
        say(
            f"{item['flag']}  goal {item['goal']}, control {item['control']}, "
            f"{item['exposures']:,} exposures — {item['status'].replace('_', ' ')}: "
            f"{item['message']}"
        )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _chance(value: float | None) -> str:
    # A posterior probability is never certain: no 100.0% or 0.0%.
    if value is None:
        return "-"
    if value > 0.999:
        return "> 99.9%"
    return "< 0.1%" if value < 0.001 else f"{value * 100:.1f}%"


def _signed(value: float) -> str:
    return f"{value * 100:+.1f}"


def _lift(lift: dict[str, Any] | None) -> str:
    """``+20.0% (+8.1% to +33.2%)``, or in percentage points when the relative lift has
    no interval (a variant without conversions)."""
    if lift is None:
        return "-"
    if lift["relative"] is not None and lift["relative_interval"] is not None:
        low, high = lift["relative_interval"]
        return f"{_signed(lift['relative'])}% ({_signed(low)}% to {_signed(high)}%)"
    low, high = lift["absolute_interval"]
    return f"{_signed(lift['absolute'])} pts ({_signed(low)} to {_signed(high)} pts)"


def _p_value(lift: dict[str, Any] | None) -> str:
    if lift is None:
        return "-"
    p = float(lift["p_value"])
    mark = " *" if lift["significant"] else ""
    return ("< 0.001" if p < 0.001 else f"{p:.3f}") + mark
