"""The demo's cycles of last year carry real ballots that count to what the demo shows as funded, an
auditor can download such a closed cycle's record and verify it on their own machine, and the record
and the voter roll of each share nothing that could join them."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import func, select

from test_records import standalone
from voting.accounts.models import User
from voting.ballots.models import Ballot, RollEntry
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.proposals.models import Project
from voting.results.models import CycleResult
from voting.results.services import count_votes, cycle_election

PASSWORD = "Demo-Pass-1"
SHOWN_FUNDED = ("funded", "in_progress", "completed", "accepted")


@pytest.fixture()
def demo(runner):
    result = runner.invoke(args=["demo", "--password", PASSWORD, "--residents-per-grid", "1"])
    assert result.exit_code == 0, result.output


def test_last_years_ballots_fund_exactly_what_the_demo_shows(demo):
    cycles = db.session.scalars(select(Cycle).where(Cycle.year == utcnow().year - 1)).all()
    assert len(cycles) == 45 and {c.phase for c in cycles} == {"implementation"}
    channels = set()
    for cycle in cycles:
        result = db.session.get(CycleResult, cycle.id)
        shown = db.session.scalars(select(Project.id).where(Project.cycle_id == cycle.id,
                                                            Project.status.in_(SHOWN_FUNDED))).all()
        assert result is not None and set(json.loads(result.selected)) == set(shown) and len(shown) == 2
        recount = count_votes(cycle_election(db.session, cycle), cycle.outcome_rule, cycle.threshold)
        assert list(recount.selected) == json.loads(result.selected)
        recorded = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.cycle_id == cycle.id))
        assert result.chain_seq == recorded >= result.ballots_counted >= 1
        channels |= set(db.session.scalars(select(RollEntry.channel).where(RollEntry.cycle_id == cycle.id)))
        votes = db.session.scalars(select(Project.votes).where(Project.cycle_id == cycle.id)).all()
        assert max(votes) <= result.ballots_counted  # the counts shown are the ballots' own
    assert channels == {"online", "assisted"}
    assert db.session.scalar(select(func.count(Ballot.id)).where(~Ballot.is_current)) > 0  # some revised


def test_an_auditor_verifies_a_closed_demo_cycle(demo, client, auth, tmp_path):
    auth.login("auditor", PASSWORD)
    home = client.get("/audit").get_data(as_text=True)
    year = utcnow().year - 1
    cycle = db.session.scalar(select(Cycle).where(Cycle.year == year).order_by(Cycle.id))
    assert f"/audit/cycles/{cycle.id}" in home
    page = client.get(f"/audit/cycles/{cycle.id}").get_data(as_text=True)
    assert "verify_record.py" in page
    response = client.get(f"/audit/cycles/{cycle.id}/record.csv")
    assert response.status_code == 200
    path = tmp_path / "record.csv"
    path.write_bytes(response.data)
    result = db.session.get(CycleResult, cycle.id)
    alone = standalone(path, "--head", result.chain_head)
    assert alone.returncode == 0, alone.stderr
    funded = ", ".join(map(str, json.loads(result.selected)))
    assert f"funded {funded} " in alone.stdout and "the published result" in alone.stdout
    text = path.read_text(encoding="utf-8-sig")
    receipt = re.findall(r",([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}),", text)[2]
    path.write_text(text.replace(receipt, receipt[:-1] + ("0" if receipt[-1] != "0" else "1")), encoding="utf-8")
    tampered = standalone(path)
    assert tampered.returncode == 1 and "NOT VERIFIED: row 3 (line" in tampered.stderr


# What each column of the two files is about. A new column must be placed here: the test then checks
# that no category is in both files.
RECORD_CATEGORIES = {"seq": "order", "voter_code": "pseudonym", "version": "version", "choices": "choices",
                     "cast_at": "time", "receipt": "receipt", "superseded": "state", "chain_hash": "hash"}
ROLL_CATEGORIES = {"grid": "grid", "grid_name": "grid", "name": "person", "channel": "channel"}
NEVER_IN_THE_RECORD = {"channel", "worker", "grid", "person"}
SHORTEST = 3  # shorter values ("1", "2") are in any file
TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}:\d{2}|\d{4}年|\d{1,2}月\d{1,2}日|\d{1,2}[时点]")


def _download(client, url: str):
    """A streamed download, read to its end (before the next request: each streams in its own context)."""
    response = client.get(url)
    assert response.status_code == 200, url
    return response, response.get_data(as_text=True)


def _sections(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_the_record_and_the_roll_of_each_closed_demo_cycle_share_nothing(demo, client, auth):
    """Download both through the app, as an auditor would, for every closed demo cycle: no roll cell is
    part of a record cell, no record cell part of a roll cell, no category in both, no time in the
    roll, no worker's name in either. (The record's header names the cycle, which both share.)"""
    auth.login("auditor", PASSWORD)
    cycles = db.session.scalars(select(Cycle).where(Cycle.year == utcnow().year - 1).order_by(Cycle.id)).all()
    workers = set(db.session.scalars(select(User.username).where(User.role.in_(("grid_worker", "staff")))))
    channels_seen = set()
    for cycle in cycles:
        _record, record_text = _download(client, f"/audit/cycles/{cycle.id}/record.csv")
        _roll, roll_text = _download(client, f"/audit/cycles/{cycle.id}/roll.csv")
        rows = _sections(record_text)
        start = rows.index(["BALLOTS"]) + 1
        record_columns, ballots = rows[start], rows[start + 1:-1]
        assert rows[-1] == ["END", str(len(ballots))] and ballots
        roll_rows = _sections(roll_text)
        roll_columns, voters = roll_rows[0], roll_rows[1:]
        assert len(voters) == sum(row[record_columns.index("superseded")] == "false" for row in ballots)

        assert set(record_columns) == set(RECORD_CATEGORIES) and set(roll_columns) == set(ROLL_CATEGORIES)
        assert not set(record_columns) & set(roll_columns)
        record_kinds = {RECORD_CATEGORIES[c] for c in record_columns}
        roll_kinds = {ROLL_CATEGORIES[c] for c in roll_columns}
        assert not record_kinds & roll_kinds and not record_kinds & NEVER_IN_THE_RECORD
        assert "time" not in roll_kinds

        record_cells = {cell for row in ballots for cell in row if len(cell) >= SHORTEST}
        roll_cells = {cell for row in voters for cell in row if len(cell) >= SHORTEST}
        assert record_cells and roll_cells
        for cell in roll_cells:
            inside = [value for value in record_cells if cell in value]
            assert not inside, (cycle.id, cell, inside[:3])
        for value in record_cells:
            inside = [cell for cell in roll_cells if value in cell]
            assert not inside, (cycle.id, value, inside[:3])
        for row in voters:
            assert not any(TIME.search(cell) for cell in row), row  # the roll carries no time
        for text in (record_text, roll_text):
            assert not any(worker in text for worker in workers)
        assert voters == sorted(voters, key=lambda row: (row[0], row[2]))  # by grid and name, not in voting order
        channels_seen |= {row[3] for row in voters}
    assert channels_seen == {"online", "assisted"}  # the roll does carry channels; the record never does
