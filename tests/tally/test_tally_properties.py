"""Properties every outcome must have, on random elections (hypothesis)."""
from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from voting.tally import Election, Project, tally

ALL_RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")


@st.composite
def elections(draw) -> Election:
    project_count = draw(st.integers(1, 7))
    ids = list(range(1, project_count + 1))
    costs = draw(st.lists(st.integers(0, 50), min_size=project_count, max_size=project_count))
    ballots = draw(st.lists(st.lists(st.sampled_from(ids), max_size=4, unique=True), max_size=12))
    budget = draw(st.integers(0, 80))
    threshold = draw(st.integers(0, 4))
    projects = [Project(pid, cost) for pid, cost in zip(ids, costs)]
    return Election.from_values(projects, budget, ballots, threshold=threshold)


@settings(max_examples=150, deadline=None)
@given(elections())
def test_no_rule_spends_more_than_the_budget(election):
    for rule in ALL_RULES:
        result = tally(election, rule)
        assert result.cost == sum(election.projects[pid].cost for pid in result.selected)
        assert result.cost <= election.budget
        assert len(set(result.selected)) == len(result.selected)


@settings(max_examples=150, deadline=None)
@given(elections(), st.data())
def test_another_vote_for_a_funded_project_keeps_it_funded_under_greedy(election, data):
    for rule in ("greedy", "greedy-no-skip"):
        funded = tally(election, rule).selected
        if not funded:
            continue
        favourite = data.draw(st.sampled_from(funded))
        more = dataclasses.replace(election, ballots=election.ballots + ((favourite,),))
        assert favourite in tally(more, rule).selected


@settings(max_examples=100, deadline=None)
@given(elections(), st.randoms(use_true_random=False))
def test_the_order_of_the_ballots_does_not_matter(election, generator: random.Random):
    ballots = list(election.ballots)
    generator.shuffle(ballots)
    shuffled = dataclasses.replace(election, ballots=tuple(ballots))
    for rule in ALL_RULES:
        assert tally(shuffled, rule) == tally(election, rule)
