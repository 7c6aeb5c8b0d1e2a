"""The standalone verifier is an independent second implementation: its chain functions are copies
of voting/ballots/chain.py (kept equal here), and its plain, exact count gives exactly what
voting.tally gives, for every rule, on random small elections."""
from __future__ import annotations

import inspect
from datetime import datetime

from hypothesis import HealthCheck, given, settings, strategies as st

from voting.audit import verify_record
from voting.ballots import chain
from voting.results.services import VOTE_TYPES, count_votes
from voting.tally import Election, Project

RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")


def test_the_copied_chain_functions_are_the_originals():
    for name in ("sha256_hex", "genesis_hash", "format_cast_at", "format_choices", "canonical_row", "next_hash"):
        assert inspect.getsource(getattr(verify_record, name)) == inspect.getsource(getattr(chain, name)), name
    assert verify_record.FORMAT == chain.FORMAT
    row = dict(seq=7, voter_code="ab12", version=2, choices=[(5, 1), (3, 2)],
               cast_at=datetime(2026, 11, 28, 8, 30, 5, 123), receipt="7KQ2-M9XD-4T1B")
    assert verify_record.canonical_row(**row) == chain.canonical_row(**row) == \
        "v2|7|ab12|2|3:2,5:1|2026-11-28T08:30:05.000123Z|7KQ2-M9XD-4T1B"
    assert verify_record.next_hash(verify_record.genesis_hash(3), "x") == chain.next_hash(chain.genesis_hash(3), "x")


@st.composite
def elections(draw):
    """A small election in fen: 1–7 projects, up to 30 voters, approval or cumulative ballots."""
    method = draw(st.sampled_from(("approval", "knapsack", "choose_one", "cumulative")))
    count = draw(st.integers(1, 7))
    ids = draw(st.lists(st.integers(1, 60), min_size=count, max_size=count, unique=True))
    # Whole yuan mostly, sometimes odd fen; ties in cost on purpose.
    costs = draw(st.lists(st.one_of(st.sampled_from([100, 500, 1000, 2500]), st.integers(1, 60).map(lambda y: y * 100),
                                    st.integers(1, 6000)), min_size=count, max_size=count))
    fund = draw(st.one_of(st.integers(1, 60).map(lambda y: y * 100), st.integers(1, 9000)))
    voters = draw(st.integers(0, 30))
    ballots = []
    for _ in range(voters):
        chosen = draw(st.lists(st.sampled_from(ids), max_size=1 if method == "choose_one" else min(4, count),
                               unique=True))
        ballots.append([(p, draw(st.integers(1, 5)) if method == "cumulative" else 1) for p in sorted(chosen)])
    rule = draw(st.sampled_from(RULES))
    threshold = draw(st.integers(0, 8)) if rule == "greedy-threshold" else None
    return method, sorted(zip(ids, costs)), fund, ballots, rule, threshold


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elections())
def test_the_standalone_count_is_the_tally(election):
    method, projects, fund, ballots, rule, threshold = election
    plain = verify_record.count(projects, fund, ballots, method, rule, threshold)
    votes = [dict(b) for b in ballots] if method == "cumulative" else [[p for p, _ in b] for b in ballots]
    tally_election = Election.from_values([Project(p, cost) for p, cost in projects], fund, votes,
                                          vote_type=VOTE_TYPES[method], threshold=threshold)
    expected = count_votes(tally_election, rule, threshold)
    assert plain.selected == list(expected.selected)
    assert plain.cost == expected.cost and plain.ballots == len(tally_election.ballots)


def test_equal_shares_with_add_one_completion_by_hand():
    """Three voters: A (20 yuan) is on every ballot, B on the first, C on the second.

    Fund 30, B and C 12 each: each voter holds 10; A costs each 20/3, and then nobody can pay 12
    alone. A leaves 10 yuan, in which nothing fits: exhaustive at once, A alone.

    Fund 35: each holds 35/3; after A, B and C are out of reach, but would fit in the 15 left, so
    the completion raises everyone a yuan at a time. At 7 yuan more each holds 56/3, A takes 20/3
    and the first two voters keep exactly 12: B and C are both funded, 44 > 35 overspends, so the
    run before stands: A alone. With C at 13, the second voter's 12 is not enough: A and B, 32 of
    35 spent, C no longer fits.
    """
    ballots = [[(1, 1), (2, 1)], [(1, 1), (3, 1)], [(1, 1)]]
    even, uneven = [(1, 2000), (2, 1200), (3, 1200)], [(1, 2000), (2, 1200), (3, 1300)]
    assert verify_record.count(even, 3000, ballots, "approval", "mes").selected == [1]
    assert verify_record.count(even, 3500, ballots, "approval", "mes").selected == [1]
    assert verify_record.count(uneven, 3500, ballots, "approval", "mes").selected == [1, 2]
    assert verify_record.count(even, 3500, ballots, "approval", "mes+greedy").selected == [1, 2]
    for projects, fund in ((even, 3500), (uneven, 3500)):
        expected = count_votes(Election.from_values([Project(p, c) for p, c in projects], fund,
                                                    [[p for p, _ in b] for b in ballots]), "mes", None)
        assert verify_record.count(projects, fund, ballots, "approval", "mes").selected == list(expected.selected)
