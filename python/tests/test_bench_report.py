"""bench/run.py's report arithmetic: a ratio target judged round by round
pairs the two servers' runs of the same round, also when a run failed."""
import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "run.py")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def runs(bench, rps_by_round):
    return {n: bench.Run(rps, 1.0, 0.5, 0, True)
            for n, rps in rps_by_round.items()}


def test_round_ratios_pair_runs_of_the_same_round(bench):
    # granian's round 2 failed: gohttp's round 3 must meet granian's
    # round 3, not its second listed run.
    by_round = {"gohttp-raw": runs(bench, {1: 100.0, 2: 50.0, 3: 90.0}),
                "granian-raw": runs(bench, {1: 80.0, 3: 100.0})}
    got = bench.round_ratios(by_round, "gohttp-raw", "granian-raw")
    assert got == pytest.approx([1.25, 0.9])


def test_spread_counts_the_rounds_that_met_the_goal(bench):
    by_round = {"a": runs(bench, {1: 73.0, 2: 138.0, 3: 102.0}),
                "b": runs(bench, {1: 100.0, 2: 100.0, 3: 100.0})}
    assert bench.spread(by_round, "a", "b", 1.0) == \
        "; rounds 0.73x 1.38x 1.02x: met in 2 of 3"
    assert bench.spread(by_round, "a", "b", 1.5) == \
        "; rounds 0.73x 1.38x 1.02x: met in 0 of 3"
    # One shared round says nothing about the spread.
    assert bench.spread({"a": runs(bench, {1: 1.0}),
                         "b": runs(bench, {1: 1.0})}, "a", "b", 1.0) == ""


def test_targets_judge_the_medians_and_list_the_rounds(bench):
    by_round = {"gohttp-raw": runs(bench, {1: 60.0, 2: 40.0, 3: 55.0}),
                "granian-raw": runs(bench, {1: 50.0, 2: 50.0, 3: 50.0})}
    med = {name: bench.medians(list(rs.values()))
           for name, rs in by_round.items()}
    lines = dict((text.split(":")[0], (met, text)) for met, text in
                 bench.targets(med, None, 1000000, by_round))
    met, text = lines["raw WSGI hello, gohttp vs granian"]
    assert met is True   # median 55 against 50
    assert "1.100x" in text
    assert "rounds 1.20x 0.80x 1.10x: met in 2 of 3" in text
