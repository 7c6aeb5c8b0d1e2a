"""Method of Equal Shares against a plain reference: one exact MES run per add-one raise, no shortcuts.

The fast implementation skips raises it proves cannot change the outcome, and runs many raises at
once in floats whose decisions it certifies; this reference runs every raise with Fractions,
exactly as pabutools' ``exhaustion_by_budget_increase`` does (same stop rule), so any unsound skip
or certificate shows up as a different outcome.
"""
from __future__ import annotations

import math
import random
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from voting.tally import Election, Project, equal_shares, mes, read_pb
from voting.tally.rules import _ranking

DATA = Path(__file__).resolve().parent.parent / "data"


def reference_mes_run(election: Election, rank: dict, voter_money: Fraction) -> list:
    """One MES run with cost utilities, every voter starting with ``voter_money``."""
    money = [Fraction(voter_money)] * len(election.ballots)
    supporters = {
        pid: [i for i, ballot in enumerate(election.ballots) if pid in ballot] for pid in election.projects
    }
    chosen = [pid for pid, project in election.projects.items() if project.cost == 0 and supporters[pid]]
    while True:
        best = None
        for pid, project in election.projects.items():
            if pid in chosen or not supporters[pid] or sum(money[i] for i in supporters[pid]) < project.cost:
                continue
            share = reference_share(sorted(money[i] for i in supporters[pid]), project.cost)
            key = (share / project.cost, rank[pid])
            if best is None or key < best[0]:
                best = key, pid, share
        if best is None:
            return chosen
        _, pid, share = best
        chosen.append(pid)
        for i in supporters[pid]:
            money[i] -= min(money[i], share)


def reference_share(sorted_money: list[Fraction], cost) -> Fraction:
    paid, payers = Fraction(0), len(sorted_money)
    for value in sorted_money:
        share = (cost - paid) / payers
        if share <= value:
            return share
        paid += value
        payers -= 1
    raise AssertionError("unaffordable")


def reference_mes(election: Election, increment=1) -> list:
    """MES with add-one completion, one run per raise (pabutools' stop rule)."""
    rank = {pid: index for index, pid in enumerate(_ranking(election))}
    n = len(election.ballots)
    if n == 0:
        return []
    previous: list = []
    for raise_count in range(math.floor(election.budget / increment) + 1):
        outcome = reference_mes_run(election, rank, Fraction(election.budget) / n + raise_count * increment)
        cost = sum(election.projects[pid].cost for pid in outcome)
        if cost > election.budget:
            return previous
        room = election.budget - cost
        if all(pid in outcome or project.cost > room for pid, project in election.projects.items()):
            return outcome
        previous = outcome
    return previous


def fast_mes(election: Election, **options) -> list:
    rank = {pid: index for index, pid in enumerate(_ranking(election))}
    return list(equal_shares(election, rank, **options).selected)


@st.composite
def small_elections(draw) -> Election:
    project_count = draw(st.integers(1, 6))
    ids = [f"p{i}" for i in range(project_count)]
    costs = draw(st.lists(st.integers(0, 40), min_size=project_count, max_size=project_count))
    ballots = draw(st.lists(st.lists(st.sampled_from(ids), max_size=4, unique=True), max_size=10))
    budget = draw(st.integers(0, 60))
    return Election.from_values([Project(pid, cost) for pid, cost in zip(ids, costs)], budget, ballots)


@settings(max_examples=300, deadline=None)
@given(small_elections())
def test_fast_mes_matches_the_reference(election):
    assert fast_mes(election) == reference_mes(election)


@settings(max_examples=100, deadline=None)
@given(small_elections())
def test_plain_mes_matches_one_reference_run(election):
    rank = {pid: index for index, pid in enumerate(_ranking(election))}
    expected = []
    if election.ballots:
        expected = reference_mes_run(election, rank, Fraction(election.budget, len(election.ballots)))
    assert fast_mes(election, completion=False) == expected


def test_many_voters_and_raises_match_the_reference():
    generator = random.Random(5)
    for _ in range(6):
        ids = list(range(8))
        popularity = [generator.random() for _ in ids]
        ballots = [generator.choices(ids, popularity, k=generator.randint(1, 3)) for _ in range(60)]
        projects = [Project(pid, generator.randrange(50, 400)) for pid in ids]
        election = Election.from_values(projects, generator.randrange(300, 900), ballots)
        assert fast_mes(election) == reference_mes(election)


def test_increment_follows_the_money_unit():
    projects = [Project(1, 500), Project(2, 300), Project(3, 250), Project(4, 120)]
    ballots = [[1, 2], [1], [2, 3], [3, 4], [4], [1, 4], [2]]
    in_yuan = Election.from_values(projects, 1000, ballots)
    in_fen = Election.from_values([Project(p.id, p.cost * 100) for p in projects], 100_000, ballots)
    assert fast_mes(in_fen, increment=100) == fast_mes(in_yuan) == reference_mes(in_yuan)


def test_no_ballots_fund_nothing():
    election = Election.from_values([Project(1, 10)], 100, [])
    assert fast_mes(election) == [] and fast_mes(election, completion=False) == []


def test_raises_that_cannot_change_the_outcome_are_skipped():
    election = read_pb(DATA / "Poland_Gdansk_2020_Siedlce.pb")
    outcome = equal_shares(election, {pid: index for index, pid in enumerate(_ranking(election))})
    assert outcome.raises > 1000 and outcome.runs * 10 < outcome.raises


@st.composite
def uneven_elections(draw) -> Election:
    """More voters and uneven costs, so that runs rarely tie and the float runs can vouch for them."""
    project_count = draw(st.integers(1, 8))
    costs = draw(st.lists(st.integers(1, 1000), min_size=project_count, max_size=project_count))
    ballot = st.lists(st.integers(0, project_count - 1), max_size=4, unique=True)
    ballots = draw(st.lists(ballot, max_size=40))
    budget = draw(st.integers(1, 3000))
    return Election.from_values([Project(pid, cost) for pid, cost in enumerate(costs)], budget, ballots)


def exact_and_float_runs(election: Election, raises: range) -> list[tuple[list, list | None]]:
    rank = {pid: index for index, pid in enumerate(_ranking(election))}
    profile = mes._Profile(election, rank, 1)
    exact = [mes._Run(profile, raise_count, 0).solve().funded for raise_count in raises]
    return list(zip(exact, mes._float_runs(profile, raises)))


@settings(max_examples=200, deadline=None)
@given(uneven_elections(), st.integers(0, 50))
def test_float_runs_are_the_exact_runs_or_give_up(election, first):
    if election.ballots:
        for exact, floats in exact_and_float_runs(election, range(first, first + 20)):
            assert floats is None or floats == exact


@settings(max_examples=150, deadline=None)
@given(uneven_elections())
def test_fast_mes_matches_the_reference_on_uneven_elections(election):
    assert fast_mes(election) == reference_mes(election)


def test_float_runs_vouch_for_runs_without_ties():
    pairs = exact_and_float_runs(read_pb(DATA / "Netherlands_Amsterdam_613.pb"), range(32))
    assert all(floats == exact for exact, floats in pairs)


def test_float_runs_give_up_at_a_tie():
    # p1 and p2 cost the same and have as many supporters: the rank decides, which floats leave
    # to the exact run
    projects = [Project("p1", 30), Project("p2", 30), Project("p3", 50)]
    election = Election.from_values(projects, 100, [["p1", "p3"], ["p2"], ["p1", "p2", "p3"]])
    assert [floats for _, floats in exact_and_float_runs(election, range(3))] == [None, None, None]
    assert fast_mes(election) == reference_mes(election)
