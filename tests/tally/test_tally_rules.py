"""Outcome rules on plain values: who is funded, in what order, and the reason for every project."""
from __future__ import annotations

import ast
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from voting.tally import Election, ElectionError, Project, RuleError, resolve_rule, tally

TALLY_PACKAGE = Path(__file__).resolve().parents[2] / "voting" / "tally"


def street_lights_election(**options) -> Election:
    """Budget 100,000: lights 50,000 (4 votes), bench 60,000 (3), trees 35,000 (2), mural 10,000 (1)."""
    projects = [
        Project(1, 50_000, "lights"),
        Project(2, 60_000, "bench"),
        Project(3, 35_000, "trees"),
        Project(4, 10_000, "mural"),
    ]
    ballots = [[1, 2], [1, 2], [1, 2, 3], [1, 3], [4]]
    return Election.from_values(projects, 100_000, ballots, **options)


def outcome(result, project_id):
    return next(project for project in result.projects if project.id == project_id)


def test_greedy_skips_what_does_not_fit_and_goes_on():
    result = tally(street_lights_election(), "greedy")
    assert result.selected == (1, 3, 4)
    assert result.cost == 95_000
    assert [project.id for project in result.projects] == [1, 2, 3, 4]
    bench = outcome(result, 2)
    assert (bench.selected, bench.reason_code) == (False, "not_fit")
    assert bench.reason_args == {"score": 3, "cost": 60_000, "remaining": 50_000}
    assert bench.reason == "not funded: remaining 50,000 < cost 60,000"
    lights = outcome(result, 1)
    assert lights.reason_code == "funded"
    assert lights.reason_args == {"score": 4, "cost": 50_000, "remaining": 100_000}
    assert lights.reason == "funded: cost 50,000 fits in the remaining 100,000 (score 4)"


def test_greedy_no_skip_stops_at_the_first_that_does_not_fit():
    result = tally(street_lights_election(), "greedy-no-skip")
    assert result.selected == (1,)
    assert outcome(result, 2).reason_code == "budget_stop"
    assert outcome(result, 2).reason == "not funded: remaining 50,000 < cost 60,000; counting stops here"
    assert outcome(result, 3).reason_code == "after_budget_stop"
    assert outcome(result, 3).reason_args == {"score": 2, "stopped_at": 2}
    assert outcome(result, 3).reason == "not funded: counting stopped at project 2, which did not fit"


def test_greedy_threshold_uses_the_callers_minimum_or_the_elections():
    result = tally(street_lights_election(), "greedy-threshold", threshold=3)
    assert result.selected == (1,)
    assert outcome(result, 3).reason_code == "below_threshold"
    assert outcome(result, 3).reason == "not funded: score 2 is below the threshold 3"
    assert tally(street_lights_election(threshold=2), "greedy-threshold").selected == (1, 3)
    with pytest.raises(RuleError, match="needs a threshold"):
        tally(street_lights_election(), "greedy-threshold")


def test_equal_shares_funds_what_its_supporters_can_pay():
    result = tally(street_lights_election(), "mes")
    assert result.selected == (1, 3, 4)  # the add-one completion lets the trees in
    lights = outcome(result, 1)
    assert lights.reason_code == "mes_funded"
    assert lights.reason_args["supporters"] == 4
    bench = outcome(result, 2)
    assert bench.reason_code == "mes_not_affordable"
    assert bench.reason_args == {"cost": 60_000, "supporters": 3, "supporters_money": 35_000}
    assert bench.reason == "not funded: its 3 supporters had 35,000 left < cost 60,000"


def test_equal_shares_reason_for_a_project_nobody_chose():
    election = Election.from_values([Project("a", 10), Project("b", 10)], 20, [["a"], ["a"]])
    result = tally(election, "mes")
    assert result.selected == ("a",)
    nobody = outcome(result, "b")
    assert (nobody.reason_code, nobody.reason) == ("no_votes", "not funded: no votes")


def test_greedy_fill_after_equal_shares():
    projects = [Project("A", 60), Project("B", 60), Project("C", 30)]
    election = Election.from_values(projects, 100, [["A"], ["B"], ["C"]])
    assert tally(election, "mes").selected == ("C",)  # raising money enough for A also funds B: too much
    result = tally(election, "mes+greedy")
    assert result.selected == ("C", "A")
    assert outcome(result, "A").reason_code == "fill_funded"
    assert outcome(result, "B").reason == "not funded: remaining 10 < cost 60"


def test_ties_go_to_the_higher_score_then_the_lower_cost_then_the_list_order():
    projects = [Project("late", 50), Project("cheap", 40), Project("early", 50), Project("popular", 60)]
    election = Election.from_values(projects, 100, [["late", "cheap", "early", "popular"], ["popular"]])
    result = tally(election, "greedy")
    assert [project.id for project in result.projects] == ["popular", "cheap", "late", "early"]
    assert result.selected == ("popular", "cheap")
    assert "higher score, then lower cost, then their position" in result.tie_break


def test_equal_shares_breaks_exact_ties_the_same_way():
    projects = [Project("x", 30), Project("y", 30), Project("z", 20)]
    election = Election.from_values(projects, 60, [["x", "y", "z"]] * 6)
    assert tally(election, "mes").selected == ("z", "x")


def test_auto_follows_the_meta_rule():
    cases = {
        "greedy": "greedy",
        "greedy-no-skip": "greedy-no-skip",
        "greedy-threshold": "greedy-threshold",
        "equalshares/add1": "mes",
        "equalshares": "mes-plain",
        "equalshares/add1/greedy": "mes+greedy",
        "equalshares+greedy": "mes-plain+greedy",
    }
    for meta_rule, rule in cases.items():
        assert resolve_rule(street_lights_election(meta={"rule": meta_rule}), "auto") == rule
    for unknown in ("", "unknown", "equalshares/add2", "poznan"):
        with pytest.raises(RuleError):
            resolve_rule(street_lights_election(meta={"rule": unknown}), "auto")
    with pytest.raises(RuleError, match="unknown rule"):
        tally(street_lights_election(), "random")


def test_plain_equal_shares_does_not_complete():
    election = Election.from_values([Project("a", 40), Project("b", 40)], 100, [["a"], ["a"], ["b"]])
    assert tally(election, "mes-plain").selected == ("a",)
    assert tally(election, "mes").selected == ("a", "b")


def test_money_is_exact_for_decimals_and_fractions():
    projects = [Project("a", Decimal("0.10")), Project("b", Fraction(1, 5))]
    election = Election.from_values(projects, "0.30", [["a"], ["b"], ["a", "b"]])
    assert election.budget == Fraction(3, 10)
    assert tally(election, "greedy").selected == ("a", "b")
    assert tally(election, "greedy").cost == Fraction(3, 10)


def test_from_values_refuses_bad_values():
    with pytest.raises(ElectionError, match="unknown project"):
        Election.from_values([Project(1, 10)], 10, [[1], [2]])
    with pytest.raises(ElectionError, match="listed twice"):
        Election.from_values([Project(1, 10), Project(1, 20)], 10, [])
    with pytest.raises(ElectionError, match="not exact"):
        Election.from_values([Project(1, 10.5)], 10, [])
    with pytest.raises(ElectionError, match="negative"):
        Election.from_values([Project(1, 10)], -1, [])
    with pytest.raises(ElectionError, match="unknown vote type"):
        Election.from_values([Project(1, 10)], 10, [], vote_type="plurality")
    with pytest.raises(ElectionError, match="map project ids to points"):
        Election.from_values([Project(1, 10)], 10, [[1]], vote_type="cumulative")


def test_a_ballot_naming_a_project_twice_counts_once():
    election = Election.from_values([Project(1, 10), Project(2, 10)], 10, [[1, 2, 1]])
    assert election.ballots == ((1, 2),)
    assert election.notes == ("ballot 1 names a project twice; it is counted once",)


def test_cumulative_and_ordinal_scores():
    projects = [Project("a", 10), Project("b", 10), Project("c", 10)]
    cumulative = Election.from_values(projects, 10, [{"a": 3, "b": 1}, {"c": 2}], vote_type="cumulative")
    assert cumulative.scores == {"a": 3, "b": 1, "c": 2}
    ordinal = Election.from_values(projects, 10, [["c", "a", "b"], ["a"]], vote_type="ordinal")
    assert ordinal.scores == {"a": 3, "b": 1, "c": 3}
    assert ordinal.votes == {"a": 2, "b": 1, "c": 1}


def test_the_tally_package_imports_neither_flask_nor_sqlalchemy():
    for module in TALLY_PACKAGE.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"flask", "sqlalchemy", "flask_sqlalchemy"}, module.name
