"""Paper ballots: a batch typed twice by two different people; matching entries become ballots,
mismatches are listed and re-typed; across channels the latest recorded ballot counts."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from voting.ballots.models import Ballot, PaperBatch, PaperEntry
from voting.extensions import db


def open_batch(client, place, label="Box 1"):
    response = client.post(f"/cycles/{place.cycle.id}/paper", data={"grid": place.grid.id, "label": label})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/paper/(\d+)$", response.headers["Location"]).group(1))


def enter(client, batch_id, resident_user, projects):
    return client.post(f"/paper/{batch_id}/entries",
                       data={"resident": resident_user.resident_id, "projects": [str(p) for p in projects]})


def ballots(place):
    db.session.commit()
    return db.session.scalars(select(Ballot).where(Ballot.cycle_id == place.cycle.id).order_by(Ballot.seq)).all()


def entries(batch_id):
    db.session.commit()
    return db.session.scalars(select(PaperEntry).where(PaperEntry.batch_id == batch_id).order_by(PaperEntry.id)).all()


@pytest.fixture(autouse=True)
def english(client):
    """Pages in English, the source text (the Chinese catalogue is filled in later)."""
    client.set_cookie("lang", "en")


@pytest.fixture()
def round_one(world, client, auth):
    """grid-ca-1 opens a batch and types three papers (round 1), then finishes the round."""
    a, p = world.a, world.a.projects
    auth.login("grid-ca-1")
    batch_id = open_batch(client, a)
    for resident, chosen in zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])):
        assert enter(client, batch_id, resident, chosen).status_code == 302
    assert client.post(f"/paper/{batch_id}/finish").status_code == 302
    auth.logout()
    return batch_id


def test_matching_entries_become_paper_ballots(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    page = client.get(f"/paper/{round_one}").get_data(as_text=True)
    assert "You are typing round 2." in page and "Your entries (0)" in page  # round 1 is not shown
    for resident, chosen in zip(a.residents, ([p[0].id], [p[2].id, p[1].id], [p[3].id])):
        assert enter(client, round_one, resident, chosen).status_code == 302
    assert client.post(f"/paper/{round_one}/finish").status_code == 302
    rows = ballots(a)
    assert len(rows) == 3 and {b.channel for b in rows} == {"paper"}
    assert {b.worker_id for b in rows} == {a.worker.id}
    assert all(e.status == "accepted" and e.choices is None for e in entries(round_one))
    assert db.session.get(PaperBatch, round_one).accepted_count == 3


def test_mismatches_are_listed_and_re_typed(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    extra = a.residents[2]
    auth.login("staff-ca")
    enter(client, round_one, a.residents[0], [p[0].id])             # agrees
    enter(client, round_one, a.residents[1], [p[1].id])             # differs from round 1
    client.post(f"/paper/{round_one}/finish")                        # resident 3 only in round 1
    assert len(ballots(a)) == 1
    states = {(e.round, e.resident_id): (e.status, e.problem) for e in entries(round_one)}
    assert states[(2, a.residents[1].resident_id)] == ("disputed", "differs")
    assert states[(1, extra.resident_id)] == ("disputed", "only_round_1")
    page = client.get(f"/paper/{round_one}").get_data(as_text=True)
    assert a.residents[1].resident.name in page and extra.resident.name in page
    assert p[1].title not in page.split("To resolve")[-1].split("</section>")[0]  # disputes show no choices

    # The second person looks at the papers again and types them again; then reconcile.
    assert enter(client, round_one, a.residents[1], [p[1].id, p[2].id]).status_code == 302
    assert enter(client, round_one, extra, [p[3].id]).status_code == 302
    assert client.post(f"/paper/{round_one}/reconcile").status_code == 302
    assert len(ballots(a)) == 3
    assert all(e.status == "accepted" for e in entries(round_one))


def test_an_entry_without_a_paper_is_removed_to_resolve(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    enter(client, round_one, a.residents[0], [p[0].id])
    enter(client, round_one, a.residents[1], [p[1].id, p[2].id])
    client.post(f"/paper/{round_one}/finish")
    auth.logout()
    auth.login("grid-ca-1")
    (dangling,) = [e for e in entries(round_one) if e.status == "disputed"]
    assert client.post(f"/paper/{round_one}/entries/{dangling.id}/delete").status_code == 302
    client.post(f"/paper/{round_one}/reconcile")
    assert len(ballots(a)) == 2 and not [e for e in entries(round_one) if e.status == "disputed"]


def test_the_same_person_cannot_type_both_rounds(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("grid-ca-1")
    again = client.post(f"/paper/{round_one}/finish")
    assert again.status_code == 403
    assert "different person" in again.get_data(as_text=True)
    assert enter(client, round_one, a.residents[0], [p[0].id]).status_code == 403
    assert db.session.get(PaperBatch, round_one).round2_by_id is None and ballots(a) == []


def test_a_third_person_is_refused(world, client, auth, factory, round_one):
    factory.user("grid-ca-1b", "grid_worker", world.a.community, world.a.grid)
    db.session.commit()
    auth.login("staff-ca")
    enter(client, round_one, world.a.residents[0], [world.a.projects[0].id])
    auth.logout()
    auth.login("grid-ca-1b")
    assert enter(client, round_one, world.a.residents[0], [world.a.projects[0].id]).status_code == 403


def test_entries_follow_the_roll_and_the_rules(world, client, auth, factory):
    a, p = world.a, world.a.projects
    other_grid = factory.grid(a.community, 2)
    stranger = factory.resident(a.community, other_grid, "resident-ca-g2")
    db.session.commit()
    auth.login("grid-ca-1")
    batch_id = open_batch(client, a)
    assert enter(client, batch_id, stranger, [p[0].id]).status_code == 400  # not on this grid's roll
    response = enter(client, batch_id, a.residents[0], [x.id for x in p])
    assert response.status_code == 422
    assert "choose at most 3" in response.get_data(as_text=True)
    assert entries(batch_id) == []


def test_paper_is_only_for_the_grid_worker_and_staff(world, client, auth, round_one):
    for username, status in (("grid-cb-1", 403), ("staff-cb", 403), ("resident-ca-1", 403)):
        auth.login(username)
        assert client.get(f"/paper/{round_one}").status_code == status
        auth.logout()
    auth.login("grid-cb-1")
    response = client.post(f"/cycles/{world.a.cycle.id}/paper", data={"grid": world.a.grid.id, "label": "x"})
    assert response.status_code in (400, 403)
    assert db.session.scalar(select(PaperBatch).where(PaperBatch.created_by_id == world.b.worker.id)) is None


def test_the_latest_ballot_counts_across_channels(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    headers = auth.headers("resident-ca-1")
    url = f"/api/v1/cycles/{a.cycle.id}/ballot"
    assert client.put(url, json={"projects": [p[3].id]}, headers=headers).get_json()["version"] == 1
    auth.login("staff-ca")
    for resident, chosen in zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])):
        enter(client, round_one, resident, chosen)
    client.post(f"/paper/{round_one}/finish")
    mine = client.get(url, headers=headers).get_json()
    assert (mine["version"], mine["channel"], mine["projects"]) == (2, "paper", [p[0].id])
    assert client.put(url, json={"projects": [p[2].id]}, headers=headers).get_json()["version"] == 3
    assert client.get(url, headers=headers).get_json()["channel"] == "online"
    current = [b for b in ballots(a) if b.is_current]
    assert len(current) == 3 and len(ballots(a)) == 5


def test_a_refused_paper_ballot_is_disputed_and_the_others_count(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    for resident, chosen in zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])):
        enter(client, round_one, resident, chosen)
    a.residents[1].resident.status = "moved"
    db.session.commit()
    client.post(f"/paper/{round_one}/finish")
    assert len(ballots(a)) == 2
    problems = {e.problem for e in entries(round_one) if e.status == "disputed"}
    assert problems == {"not_eligible"}


def test_the_paper_pages_render(world, client, auth, round_one):
    auth.login("staff-ca")
    listing = client.get(f"/cycles/{world.a.cycle.id}/paper")
    assert listing.status_code == 200 and "Box 1" in listing.get_data(as_text=True)
    assert client.get(f"/paper/{round_one}").status_code == 200
