"""Real pabulib files: the cities' own outcomes, and pabutools' answers cached by bench/make_oracle.py."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from voting.tally import read_pb, tally

DATA = Path(__file__).resolve().parent.parent / "data"
REAL_FILES = sorted(DATA.glob("*.pb"))
ORACLE = json.loads((DATA / "pabutools_oracle.json").read_text(encoding="utf-8"))
RULES_WE_FOLLOW = {"greedy", "greedy-no-skip", "greedy-threshold", "equalshares/add1"}


def selected_by_the_city(path: Path) -> set[str] | None:
    """Project ids the file marks ``selected`` = 1 (funded by the rule), read independently."""
    text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    section = text.split("\nPROJECTS\n")[1].split("\nVOTES\n")[0]
    rows = list(csv.reader(io.StringIO(section), delimiter=";"))
    if "selected" not in rows[0]:
        return None
    column = rows[0].index("selected")
    return {row[0] for row in rows[1:] if row and row[column].strip() == "1"}


CITY_OUTCOMES = [
    path
    for path in REAL_FILES
    if selected_by_the_city(path) is not None and read_pb(path).meta["rule"] in RULES_WE_FOLLOW
]


def test_seven_files_record_what_the_city_funded():
    assert len(CITY_OUTCOMES) == 7


@pytest.mark.parametrize("path", CITY_OUTCOMES, ids=lambda path: path.stem)
def test_auto_reproduces_what_the_city_funded(path):
    assert set(tally(read_pb(path), "auto").selected) == selected_by_the_city(path)


def test_the_oracle_covers_every_file():
    assert sorted(ORACLE) == [path.name for path in REAL_FILES]


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.stem)
def test_greedy_matches_pabutools(path):
    """pabutools' greedy with Cost_Sat ranks by the number of voters naming a project (points ignored)."""
    election = read_pb(path)
    approvals = dataclasses.replace(election, points=None, vote_type="approval")
    assert set(tally(approvals, "greedy").selected) == set(ORACLE[path.name]["greedy"])


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.stem)
def test_equal_shares_matches_pabutools(path):
    assert list(tally(read_pb(path), "mes").selected) == ORACLE[path.name]["mes"]


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.stem)
def test_every_rule_stays_within_the_budget(path):
    election = read_pb(path)
    for rule in ("greedy", "greedy-no-skip", "mes", "mes+greedy"):
        result = tally(election, rule)
        assert result.cost == sum(election.projects[pid].cost for pid in result.selected) <= election.budget
        assert {project.id for project in result.projects if project.selected} == set(result.selected)
