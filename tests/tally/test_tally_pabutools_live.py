"""pabutools run live, on the files where it takes under two seconds (the rest: the cached oracle)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from voting.tally import read_pb, tally

pabutools_election = pytest.importorskip("pabutools.election")
pabutools_rules = pytest.importorskip("pabutools.rules")

DATA = Path(__file__).resolve().parent.parent / "data"
REAL_FILES = sorted(DATA.glob("*.pb"))
ORACLE = json.loads((DATA / "pabutools_oracle.json").read_text(encoding="utf-8"))
FAST_FOR_PABUTOOLS = [path for path in REAL_FILES if ORACLE[path.name]["seconds"]["mes"] < 2]


def pabutools_instance(path: Path):
    return pabutools_election.parse_pabulib(str(path))


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.stem)
def test_greedy_matches_live_pabutools(path):
    instance, profile = pabutools_instance(path)
    expected = pabutools_rules.greedy_utilitarian_welfare(
        instance, profile, sat_class=pabutools_election.Cost_Sat
    )
    approvals = dataclasses.replace(read_pb(path), points=None, vote_type="approval")
    assert set(tally(approvals, "greedy").selected) == {project.name for project in expected}


@pytest.mark.parametrize("path", FAST_FOR_PABUTOOLS, ids=lambda path: path.stem)
def test_equal_shares_matches_live_pabutools(path):
    instance, profile = pabutools_instance(path)
    expected = pabutools_rules.exhaustion_by_budget_increase(
        instance,
        profile,
        pabutools_rules.method_of_equal_shares,
        {"sat_class": pabutools_election.Cost_Sat},
        budget_step=profile.num_ballots(),
    )
    assert list(tally(read_pb(path), "mes").selected) == [project.name for project in expected]
