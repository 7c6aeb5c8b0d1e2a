"""Closing the vote counts it with the cycle's rule; the result is public, explained and stored."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from conftest import cast

from voting.database import utcnow
from voting.extensions import db
from voting.results.models import CycleResult


def close(cycle):
    cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


@pytest.fixture()
def voted(world, client, auth):
    """ca: projects of 80k, 60k, 50k, 30k; three residents vote, then the vote closes."""
    p1, p2, p3, p4 = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", world.a.cycle.id, [p1, p2])
    cast(client, auth, "resident-ca-2", world.a.cycle.id, [p1, p3])
    cast(client, auth, "resident-ca-3", world.a.cycle.id, [p3, p4])
    cast(client, auth, "resident-ca-3", world.a.cycle.id, [p2, p3, p4])  # a revision: only this counts
    return world


def test_results_before_close_are_409(voted, client):
    response = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "results_not_ready"
    assert client.get(f"/cycles/{voted.a.cycle.id}/results").status_code == 409


def test_greedy_result_with_reasons(voted, client):
    assert {p.status for p in voted.a.projects} == {"on_ballot"}
    close(voted.a.cycle)
    body = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results").get_json()
    p1, p2, p3, p4 = (p.id for p in voted.a.projects)
    # Votes: p1 2, p2 2, p3 3, p4 1. Fund 200k: p3 (50k), then p1 (80k; tie with p2 broken by
    # lower cost? p2 60k is cheaper) p2 (60k) -> 110k, p1 80k -> 190k, p4 30k does not fit (10k left).
    assert body["ballots_counted"] == 3 and body["outcome_rule"] == "greedy"
    assert body["selected"] == [p3, p2, p1]
    by_id = {p["id"]: p for p in body["projects"]}
    assert by_id[p4]["selected"] is False and by_id[p4]["votes"] == 1 and by_id[p4]["reason_code"] == "not_fit"
    assert "10,000" in by_id[p4]["reason"] and "30,000" in by_id[p4]["reason"]
    assert body["turnout"] == 1.0 and body["chain"]["seq"] == 4 and len(body["chain"]["head"]) == 64
    db.session.expire_all()
    assert [p.status for p in voted.a.projects] == ["funded", "funded", "funded", "not_funded"]


def test_result_is_stored_once(voted, client):
    close(voted.a.cycle)
    first = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results").get_json()
    again = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results").get_json()
    assert first == again
    assert len(db.session.scalars(select(CycleResult)).all()) == 1


def test_results_page(voted, client):
    close(voted.a.cycle)
    text = client.get(f"/cycles/{voted.a.cycle.id}/results", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "ca项目3" in text and "Not funded" in text and "¥10,000 left &lt; cost ¥30,000" in text
    assert "ranked by their votes; between equal votes" in text and "score" not in text
    # 4 versions recorded (resident 3 revised), 3 ballots counted: the page says why
    assert 'id="versions"' in text and "Why 4 and not 3" in text


def test_threshold_rule(voted, client):
    voted.a.cycle.outcome_rule, voted.a.cycle.threshold = "greedy-threshold", 2
    close(voted.a.cycle)
    body = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results").get_json()
    reasons = {p["id"]: p["reason_code"] for p in body["projects"]}
    assert reasons[voted.a.projects[3].id] == "below_threshold"


def test_equal_shares_rule(voted, client):
    voted.a.cycle.outcome_rule = "mes"
    close(voted.a.cycle)
    body = client.get(f"/api/v1/cycles/{voted.a.cycle.id}/results").get_json()
    assert body["outcome_rule"] == "mes" and body["selected"]
    assert sum(int(float(p["cost"])) for p in body["projects"] if p["selected"]) <= 200_000


def test_unknown_cycle(client, world):
    assert client.get("/api/v1/cycles/9999/results").status_code == 404


def test_figures_counted_before_online_voting_are_never_overwritten(world, factory, client):
    from voting.proposals.models import Project

    past = factory.cycle(world.a.community, year=2020, phase="closed")
    done = factory.project(past, "旧项目", 50_000, status="completed", votes=321)
    db.session.commit()
    response = client.get(f"/api/v1/cycles/{past.id}/results")  # shown as recorded, never counted again
    assert response.status_code == 200 and response.get_json()["source"] == "recorded"
    assert client.get(f"/cycles/{past.id}/results").status_code == 200
    assert db.session.get(Project, done.id).votes == 321
    assert db.session.get(CycleResult, past.id) is None


def test_a_cast_that_checked_the_window_before_the_count_is_refused_after_it(voted, client):
    """A cast that found voting open just before the close, but reached the chain head after the
    votes were counted, is refused: every acknowledged ballot is in the count."""
    from voting.accounts.models import User
    from voting.ballots.models import Ballot
    from voting.ballots.casting import CastingCycle, Voter
    from voting.ballots.services import cast_ballot
    from voting.errors import Conflict

    cycle, p1 = voted.a.cycle, voted.a.projects[0].id
    close(cycle)
    closes_at = cycle.voting_closes_at
    voter = db.session.scalar(select(User).where(User.username == "resident-ca-1"))
    _ = voter.resident.community_id
    db.session.expunge_all()  # the cast's own reads, from just before the close
    db.session.rollback()
    counted = client.get(f"/api/v1/cycles/{cycle.id}/results").get_json()
    with pytest.raises(Conflict) as refused:
        cast_ballot(db.session, CastingCycle.read(db.session, cycle), Voter.of_account(voter), [(p1, 1)], "online",
                    None, closes_at - timedelta(seconds=1))
    assert refused.value.code == "voting_closed"
    db.session.rollback()
    assert db.session.scalar(select(db.func.count(Ballot.id)).where(Ballot.cycle_id == cycle.id)) \
        == counted["chain"]["seq"] == 4
