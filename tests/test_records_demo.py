"""The demo's cycles of last year carry real ballots that count to what the demo shows as funded, and
an auditor can download such a closed cycle's record and verify it on their own machine."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from test_records import standalone
from voting.ballots.models import Ballot
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
        channels |= set(db.session.scalars(select(Ballot.channel).where(Ballot.cycle_id == cycle.id)))
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
