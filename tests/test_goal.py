# SPDX-License-Identifier: Apache-2.0
"""Design goals (half.hw.goal): the registry, each goal's score and cost on a real estimate,
name lookup errors, the CLI choices, and folding with a Goal = folding with its name."""

from __future__ import annotations

import click
import pytest

from half.errors import ConfigError
from half.hw.devices import get_device
from half.hw.goal import DEFAULT_GOAL, GOALS, HIGH_THROUGHPUT, LOW_ENERGY, LOW_POWER, get_goal
from half.hw.plan import graph_for, plan
from half.hw.power import power_model

RATE = 250 / 60  # one beat at 250 bpm
# the search's cost name and report unit of each goal, as search.json and run.json hold them
COSTS = {"high-throughput": ("seconds_per_inference", "s"), "low-power": ("power_mw", "mW"),
         "low-energy": ("energy_uj", "µJ")}


@pytest.fixture(scope="module")
def graph():
    return graph_for("preset:tiny", "mitdb-aami")[0]


def test_registry():
    assert list(GOALS) == ["high-throughput", "low-power", "low-energy"]
    assert list(GOALS.values()) == [HIGH_THROUGHPUT, LOW_POWER, LOW_ENERGY]
    assert {g.name: (g.cost_name, g.cost_unit) for g in GOALS.values()} == COSTS
    assert [g.needs_rate for g in GOALS.values()] == [False, True, True]
    assert DEFAULT_GOAL == "low-energy"
    from half.hw import folding

    assert folding.GOALS is GOALS  # the old import still works


@pytest.mark.parametrize("name", list(GOALS))
def test_score_and_cost_of_a_real_estimate(graph, name):
    goal = GOALS[name]
    p = plan(graph, "up5k", goal, RATE)
    dev = get_device("up5k")
    from half.hw.folding import fold

    _, est, _ = fold(graph, dev, goal, RATE, power_model(dev))
    own = {"high-throughput": -est.throughput, "low-power": est.power_mw(RATE),
           "low-energy": est.energy_uj()}
    assert goal.score(est, RATE) == own[name]
    # the cost the search read from a plan before Goal existed
    before = {"high-throughput": 1.0 / p["throughput_per_s"],
              "low-power": p["power_estimate_mw"]["average_at_rate"],
              "low-energy": p["energy_estimate_uj"]}
    assert goal.cost(p) == before[name] > 0
    assert goal.cost(p) == pytest.approx(-1 / own[name] if name == "high-throughput"
                                         else own[name])
    # the search's view: the same cost under the goal's name
    from half.search.evaluate import SearchSpec, hardware_of

    spec = SearchSpec(task="mitdb-aami", goal=name, device="up5k", rate=RATE)
    assert spec.cost_name == goal.cost_name
    assert hardware_of(graph, spec)["cost"] == goal.cost(p)


def test_get_goal_and_its_errors(graph):
    assert get_goal("low-power") is LOW_POWER and get_goal(LOW_POWER) is LOW_POWER
    msg = "goal: one of high-throughput, low-power, low-energy, not 'fastest'"
    for bad in (lambda: get_goal("fastest"), lambda: plan(graph, "up5k", "fastest", RATE)):
        with pytest.raises(ConfigError) as exc:
            bad()
        assert str(exc.value) == msg and exc.value.field == "goal"
    with pytest.raises(ConfigError, match="goal: one of .*not None"):
        get_goal(None)
    with pytest.raises(ConfigError, match="goal: one of .*not \\['low-power'\\]"):
        get_goal(["low-power"])
    for goal in (LOW_POWER, "low-power"):
        with pytest.raises(ConfigError) as exc:
            plan(graph, "up5k", goal, None)
        assert str(exc.value) == "rate: low-power needs a positive required rate"
    plan(graph, "up5k", HIGH_THROUGHPUT, None)  # no rate needed


def test_specs_store_the_name():
    from half.run.pipeline import RunSettings
    from half.search.evaluate import SearchSpec

    spec = SearchSpec(goal=LOW_POWER)
    assert spec.goal == "low-power" and spec.key() == SearchSpec(goal="low-power").key()
    assert SearchSpec().goal == DEFAULT_GOAL
    assert RunSettings(goal=LOW_POWER).to_dict()["goal"] == "low-power"
    with pytest.raises(ConfigError, match="goal: one of .*not 'fastest'"):
        SearchSpec(goal="fastest")


def _goal_option(command: click.Command) -> click.Option:
    return next(p for p in command.params if p.name == "goal")


def test_cli_choices_are_the_registry():
    from half.cli import cli
    from half.run.cli import run_cmd
    from half.search.cli import search_cmd

    for command in (cli.commands["estimate"], cli.commands["build"], search_cmd, run_cmd):
        option = _goal_option(command)
        assert isinstance(option.type, click.Choice), command.name
        assert list(option.type.choices) == list(GOALS), command.name
        assert option.default == DEFAULT_GOAL, command.name


@pytest.mark.parametrize("argv", [["search", "--budget", "30m"], ["run", "--budget", "2"]])
def test_search_and_run_reject_an_unknown_goal_in_one_line(argv, tmp_path, capsys):
    from half._entry import main

    with pytest.raises(SystemExit) as exc:
        main([*argv, "--goal", "fastest", "-o", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == ""
    assert err.strip() == "half: error: goal: one of high-throughput, low-power, low-energy, " \
                          "not 'fastest'"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("device", ["up5k", "ecp5-85k"])
def test_folding_with_a_goal_equals_folding_with_its_name(graph, device):
    from half.hw.folding import fold

    dev = get_device(device)
    pw = power_model(dev)
    for name, goal in GOALS.items():
        by_name, by_goal = fold(graph, dev, name, RATE, pw), fold(graph, dev, goal, RATE, pw)
        assert by_goal[0] == by_name[0]
        assert by_goal[1].to_dict(RATE) == by_name[1].to_dict(RATE)
        drop = ("seconds",)
        assert {k: v for k, v in by_goal[2].items() if k not in drop} == \
            {k: v for k, v in by_name[2].items() if k not in drop}
        assert by_goal[2]["goal"] == name  # plain JSON: the name, not the object
