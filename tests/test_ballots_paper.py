"""Paper ballots: a batch typed twice by two different people; matching entries become ballots
(in a random order, each at its own time), mismatches are listed and re-typed; a paper of a
resident who already voted is flagged, disputed and decided by the community's staff."""
from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from voting.audit.models import ActionLogEntry
from voting.ballots import paper
from voting.ballots.models import Ballot, PaperBatch, PaperEntry, RollEntry
from voting.ballots.casting import CastingCycle, Voter
from voting.ballots.services import cast_ballot, current_ballot
from voting.database import utcnow
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


def roll(place, resident_user):
    db.session.commit()
    return db.session.scalar(select(RollEntry).where(RollEntry.cycle_id == place.cycle.id,
                                                     RollEntry.resident_id == resident_user.resident_id))


def logged(action):
    db.session.commit()
    return [json.loads(e.detail) for e in db.session.scalars(select(ActionLogEntry)
                                                             .where(ActionLogEntry.action == action))]


def type_round(client, batch_id, typed):
    for resident, chosen in typed:
        assert enter(client, batch_id, resident, chosen).status_code == 302
    assert client.post(f"/paper/{batch_id}/finish").status_code == 302


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
    assert len(rows) == 3
    assert {(roll(a, r).channel, roll(a, r).worker_id) for r in a.residents} == {("paper", a.worker.id)}
    assert all(e.status == "accepted" and e.choices is None and e.resident_id is None for e in entries(round_one))
    assert db.session.get(PaperBatch, round_one).accepted_count == 3
    # In the database itself: a counted paper keeps neither its resident nor its choices.
    stored = db.session.execute(text("SELECT resident_id, choices FROM paper_entry WHERE batch_id = :b"),
                                {"b": round_one}).all()
    assert len(stored) == 6 and set(stored) == {(None, None)}
    page = client.get(f"/paper/{round_one}")
    assert page.status_code == 200 and "Your entries (3)" in page.get_data(as_text=True)


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


def test_a_paper_after_an_online_ballot_is_flagged_disputed_and_decided_by_staff(world, client, auth,
                                                                                    round_one):
    a, p = world.a, world.a.projects
    headers = auth.headers("resident-ca-1")
    url = f"/api/v1/cycles/{a.cycle.id}/ballot"
    assert client.put(url, json={"projects": [p[3].id]}, headers=headers).get_json()["version"] == 1
    auth.login("staff-ca")
    page = client.get(f"/paper/{round_one}").get_data(as_text=True)
    assert f"{a.residents[0].resident.name} · {a.residents[0].resident.address} · already voted online" in page
    saved = client.post(f"/paper/{round_one}/entries", data={"resident": a.residents[0].resident_id,
                                                             "projects": [str(p[0].id)]}, follow_redirects=True)
    assert "This resident already voted online." in saved.get_data(as_text=True)
    for resident, chosen in zip(a.residents[1:], ([p[1].id, p[2].id], [p[3].id])):
        enter(client, round_one, resident, chosen)
    client.post(f"/paper/{round_one}/finish")
    # Not cast: disputed for the staff; the other two papers count.
    assert client.get(url, headers=headers).get_json()["version"] == 1
    assert len(ballots(a)) == 3 and roll(a, a.residents[0]).channel == "online"
    states = {(e.status, e.problem) for e in entries(round_one) if e.resident_id == a.residents[0].resident_id}
    assert states == {("disputed", "already_voted")}
    page = client.get(f"/paper/{round_one}").get_data(as_text=True)
    section = page.split('id="already-voted"')[1].split("</section>")[0]
    assert a.residents[0].resident.name in section and "This resident already voted online." in section
    assert p[0].title not in section  # the resident and the problem, never the choices

    (disputed, _second) = [e for e in entries(round_one) if e.problem == "already_voted"]
    answer = client.post(f"/paper/{round_one}/entries/{disputed.id}/decide",
                         data={"decision": "replace", "reason": "居民本人确认以纸质票为准"})
    assert answer.status_code == 302
    mine = client.get(url, headers=headers).get_json()
    assert (mine["version"], mine["projects"]) == (2, [p[0].id])  # the latest counts
    assert (roll(a, a.residents[0]).channel, roll(a, a.residents[0]).worker_id) == ("paper", a.worker.id)
    assert [b.version for b in ballots(a) if b.is_current and b.seq == len(ballots(a))] == [2]
    assert all(e.status == "accepted" and e.resident_id is None for e in entries(round_one))
    assert db.session.get(PaperBatch, round_one).accepted_count == 3
    (entry,) = logged("paper.replace_earlier_ballot")
    assert entry["resident"] == a.residents[0].resident_id and entry["reason"] == "居民本人确认以纸质票为准"
    assert entry["earlier_channel"] == "online" and "cast_at" not in json.dumps(entry)
    # The resident may still change their ballot online afterwards: the latest counts.
    assert client.put(url, json={"projects": [p[2].id]}, headers=headers).get_json()["version"] == 3
    assert roll(a, a.residents[0]).channel == "online"
    assert len([b for b in ballots(a) if b.is_current]) == 3 and len(ballots(a)) == 5


@pytest.fixture()
def already_voted(world, client, auth, round_one):
    """Resident 1 voted with the grid worker at the door; then both rounds of papers agree."""
    a, p = world.a, world.a.projects
    cast_ballot(db.session, CastingCycle.read(db.session, a.cycle), Voter.of_resident(a.residents[0].resident),
                [(p[2].id, 1)], "assisted", a.worker, utcnow())
    db.session.commit()
    auth.login("staff-ca")
    page = client.get(f"/paper/{round_one}").get_data(as_text=True)
    assert "already voted with a grid worker" in page  # round 2's form
    type_round(client, round_one, zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])))
    auth.logout()
    (first, _second) = [e for e in entries(round_one) if e.problem == "already_voted"]
    return SimpleNamespace(id=first.id, batch_id=first.batch_id, resident_id=first.resident_id)


def test_the_round_1_form_flags_a_resident_who_already_voted(world, client, auth):
    a, p = world.a, world.a.projects
    auth.login("grid-ca-1")
    batch_id = open_batch(client, a)
    page = client.get(f"/paper/{batch_id}").get_data(as_text=True)
    assert "already voted" not in page
    auth.logout()
    headers = auth.headers("resident-ca-2")
    client.put(f"/api/v1/cycles/{a.cycle.id}/ballot", json={"projects": [p[1].id]}, headers=headers)
    auth.login("grid-ca-1")
    page = client.get(f"/paper/{batch_id}?resident={a.residents[1].resident_id}").get_data(as_text=True)
    assert f"{a.residents[1].resident.name} · {a.residents[1].resident.address} · already voted online" in page
    assert "This resident already voted online." in page  # the chosen resident, next to the field
    saved = client.post(f"/paper/{batch_id}/entries", data={"resident": a.residents[1].resident_id,
                                                            "projects": [str(p[0].id)]}, follow_redirects=True)
    body = saved.get_data(as_text=True)
    assert "This resident already voted online." in body and "already voted online</strong>" in body


def test_a_resident_whose_paper_counted_is_already_voted_in_another_batch(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    type_round(client, round_one, zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])))
    second = open_batch(client, a, "Box 2")
    page = client.get(f"/paper/{second}").get_data(as_text=True)
    assert page.count("already voted on paper") == 3
    assert enter(client, second, a.residents[0], [p[1].id]).status_code == 302
    client.post(f"/paper/{second}/finish")
    auth.logout()
    auth.login("grid-ca-1")
    assert "already voted on paper" in client.get(f"/paper/{second}").get_data(as_text=True)  # round 2's form
    type_round(client, second, [(a.residents[0], [p[1].id])])
    assert len(ballots(a)) == 3
    assert [(e.status, e.problem) for e in entries(second)] == [("disputed", "already_voted")] * 2


def test_staff_discard_a_paper_and_the_earlier_ballot_stands(world, client, auth, already_voted):
    a = world.a
    before = current_ballot(db.session, CastingCycle.read(db.session, a.cycle),
                            Voter.of_resident(a.residents[0].resident))
    auth.login("staff-ca")
    answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                         data={"decision": "discard", "reason": "Typed for the wrong resident"})
    assert answer.status_code == 302
    assert [e.resident_id for e in entries(already_voted.batch_id) if e.resident_id] == []
    assert len(entries(already_voted.batch_id)) == 4  # the two counted papers' entries
    now = current_ballot(db.session, CastingCycle.read(db.session, a.cycle),
                         Voter.of_resident(a.residents[0].resident))
    assert (now.id, now.version) == (before.id, 1)
    assert roll(a, a.residents[0]).channel == "assisted"
    (entry,) = logged("paper.discard_paper_ballot")
    assert entry["resident"] == a.residents[0].resident_id and entry["reason"] == "Typed for the wrong resident"
    assert logged("paper.replace_earlier_ballot") == []


def _unchanged(place, entry, ballots_before):
    assert len(ballots(place)) == ballots_before
    states = [(e.status, e.problem) for e in entries(entry.batch_id) if e.resident_id == entry.resident_id]
    assert states == [("disputed", "already_voted")] * 2
    assert logged("paper.replace_earlier_ballot") == logged("paper.discard_paper_ballot") == []


def test_a_grid_worker_cannot_decide_nor_remove_nor_retype(world, client, auth, already_voted):
    a, p = world.a, world.a.projects
    count = len(ballots(a))
    auth.login("grid-ca-1")
    page = client.get(f"/paper/{already_voted.batch_id}").get_data(as_text=True)
    assert "Waiting for the community&#39;s staff to decide." in page or "Waiting for the community's staff" in page
    assert "/decide" not in page
    answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                         data={"decision": "replace", "reason": "x"})
    assert answer.status_code == 403
    removed = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/delete")
    assert removed.status_code == 409 and "staff decide" in removed.get_data(as_text=True)
    retyped = enter(client, already_voted.batch_id, a.residents[0], [p[1].id])
    assert retyped.status_code == 409
    _unchanged(a, already_voted, count)


def test_staff_of_another_community_cannot_decide(world, client, auth, already_voted):
    count = len(ballots(world.a))
    auth.login("staff-cb")
    answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                         data={"decision": "replace", "reason": "x"})
    assert answer.status_code == 403
    _unchanged(world.a, already_voted, count)


def test_a_decision_needs_a_reason(world, client, auth, already_voted):
    count = len(ballots(world.a))
    auth.login("staff-ca")
    for reason in ("", "   "):
        answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                             data={"decision": "replace", "reason": reason})
        assert answer.status_code == 422
        assert "Please give the reason for the decision." in answer.get_data(as_text=True)
    answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                         data={"decision": "keep both", "reason": "x"})
    assert answer.status_code == 400 and "replaces the earlier ballot or is discarded" in answer.get_data(as_text=True)
    _unchanged(world.a, already_voted, count)


def test_only_a_paper_disputed_as_already_voted_is_decided(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    type_round(client, round_one, zip(a.residents[:2], ([p[0].id], [p[1].id])))  # differs, only round 1
    count = len(ballots(a))
    for entry in entries(round_one):
        answer = client.post(f"/paper/{round_one}/entries/{entry.id}/decide",
                             data={"decision": "replace", "reason": "x"})
        assert answer.status_code in (404, 409), (entry.status, entry.problem)
        if entry.status == "disputed":
            assert answer.status_code == 409
            assert "already voted is decided by the staff" in answer.get_data(as_text=True)
    assert client.post(f"/paper/{round_one}/entries/999999/decide",
                       data={"decision": "replace", "reason": "x"}).status_code == 404
    assert len(ballots(a)) == count == 1
    assert logged("paper.replace_earlier_ballot") == []


def test_a_replacement_needs_voting_open(world, client, auth, already_voted):
    count = len(ballots(world.a))
    world.a.cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    auth.login("staff-ca")
    answer = client.post(f"/paper/{already_voted.batch_id}/entries/{already_voted.id}/decide",
                         data={"decision": "replace", "reason": "x"})
    assert answer.status_code == 409 and "Voting is not open" in answer.get_data(as_text=True)
    _unchanged(world.a, already_voted, count)


def test_papers_are_cast_in_a_random_order_each_at_its_own_time(world, client, auth, factory, monkeypatch):
    a, p = world.a, world.a.projects
    residents = a.residents + [factory.resident(a.community, a.grid, f"resident-ca-x{n}") for n in range(27)]
    db.session.commit()
    monkeypatch.setattr(paper, "_random", random.Random(16))
    choices = [[p[n % 4].id] for n in range(len(residents))]
    auth.login("grid-ca-1")
    batch_id = open_batch(client, a)
    type_round(client, batch_id, zip(residents, choices))
    auth.logout()
    auth.login("staff-ca")
    type_round(client, batch_id, zip(reversed(residents), reversed(choices)))
    batch = db.session.get(PaperBatch, batch_id)
    rows = ballots(a)
    assert len(rows) == 30 and batch.accepted_count == 30
    casting = CastingCycle.read(db.session, a.cycle)
    seq_of = {r.resident_id: current_ballot(db.session, casting, Voter.of_resident(r.resident)).seq for r in residents}
    by_seq = sorted(seq_of, key=seq_of.get)
    assert by_seq != sorted(seq_of) and by_seq != [r.resident_id for r in residents]
    times = [b.cast_at for b in rows]
    assert len(set(times)) == 30 and times == sorted(times)  # each its own time, growing with seq
    assert batch.created_at <= times[0] and times[-1] <= batch.reconciled_at


def test_the_order_is_drawn_afresh_each_time(world, client, auth, factory, monkeypatch):
    """Without the fixed seed the source is the system's: two draws of 30 differ."""
    assert isinstance(paper._random, random.SystemRandom)
    start = utcnow()
    first = paper._paper_times(start, start + timedelta(minutes=5), 30)
    assert len(set(first)) == 30 and first == sorted(first) and first[0] >= start
    assert first != paper._paper_times(start, start + timedelta(minutes=5), 30)


def test_voting_closed_before_the_reconciliation_counts_nothing(world, client, auth, round_one):
    a, p = world.a, world.a.projects
    auth.login("staff-ca")
    for resident, chosen in zip(a.residents, ([p[0].id], [p[1].id, p[2].id], [p[3].id])):
        enter(client, round_one, resident, chosen)
    a.cycle.voting_closes_at = utcnow() - timedelta(microseconds=1)
    db.session.commit()
    client.post(f"/paper/{round_one}/finish")
    assert ballots(a) == []
    assert {e.problem for e in entries(round_one)} == {"voting_closed"}


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


def test_the_batch_page_renders_a_dispute_for_staff(world, client, auth, already_voted):
    auth.login("staff-ca")
    page = client.get(f"/paper/{already_voted.batch_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Record the decision" in body and "Already voted: the staff decide" in body
