"""Trust in the count against someone with a server or the database: one ballot per resident
whatever the key, the electorate fixed at opening, a count that refuses a record it cannot
reconcile with the roll, nothing stored that links an account to its choices, and an early close
that no acknowledged ballot can outrun."""
from __future__ import annotations

import http.client
import json
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from voting.ballots.codes import key_fingerprint, voter_code
from voting.ballots.models import Ballot, BallotChain, IdempotentAnswer, RollEntry
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.results.models import CycleResult

from test_ballots import ids, put


def _current_ballots(place) -> int:
    db.session.commit()  # a fresh transaction: it sees what a live server wrote
    return db.session.scalar(select(func.count()).select_from(Ballot)
                             .where(Ballot.cycle_id == place.cycle.id, Ballot.is_current))


def _close(place, minutes_ago: int = 1):
    place.cycle.voting_closes_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.commit()


# --- One ballot per resident, whatever the key ------------------------------------------------------

def test_a_host_with_another_key_cannot_add_a_second_ballot(world, client, auth, app):
    voter = auth.headers("resident-ca-1")
    assert put(client, voter, world.a, {"projects": ids(world.a, 0)}).status_code == 200
    app.config["SECRET_KEY"] = "a-second-host-that-made-its-own-key"
    again = put(client, voter, world.a, {"projects": ids(world.a, 1)})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "voter_key_unknown"
    assert _current_ballots(world.a) == 1
    # Another community's vote, with no ballot yet, is started with this host's key.
    assert put(client, auth.headers("resident-cb-1"), world.b, {"projects": ids(world.b, 0)}).status_code == 200
    assert db.session.get(BallotChain, world.b.cycle.id).voter_key == key_fingerprint(app.config["SECRET_KEY"])


def test_the_database_refuses_a_ballot_under_another_key(world, client, auth):
    """Even bypassing the app: the ballot's foreign key names its chain head's key."""
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)})
    first = db.session.scalar(select(Ballot))
    db.session.add(Ballot(cycle_id=first.cycle_id, voter_code="f" * 24, voter_key=key_fingerprint("another key"),
                          version=1, cast_at=utcnow(), receipt="ZZZZ-ZZZZ-ZZZZ", is_current=True, seq=2,
                          chain_hash="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert _current_ballots(world.a) == 1


def test_a_rotated_key_keeps_each_resident_to_one_ballot(world, client, auth, app):
    """The new key comes first, the old one stays a fallback until the votes it started have closed:
    a resident's revision supersedes their ballot, and a new vote takes the new key."""
    old = app.config["SECRET_KEY"]
    voter = auth.headers("resident-ca-1")
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    app.config.update(SECRET_KEY="the-new-key-after-rotation", SECRET_KEY_FALLBACKS=[old])
    revised = put(client, voter, world.a, {"projects": ids(world.a, 1)})
    assert revised.status_code == 200 and revised.get_json()["version"] == 2
    assert _current_ballots(world.a) == 1
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/ballot", headers=voter).get_json()["version"] == 2
    put(client, auth.headers("resident-cb-1"), world.b, {"projects": ids(world.b, 0)})
    assert db.session.get(BallotChain, world.b.cycle.id).voter_key == key_fingerprint("the-new-key-after-rotation")
    assert db.session.get(BallotChain, world.a.cycle.id).voter_key == key_fingerprint(old)


def test_the_key_fallbacks_come_from_the_environment(tmp_path):
    from voting.config import Settings

    settings = Settings.from_env(tmp_path, {"VOTING_SECRET_KEY": "new",
                                            "VOTING_SECRET_KEY_FALLBACKS": "old-1, old-2"})
    assert settings.flask_config()["SECRET_KEY_FALLBACKS"] == ["old-1", "old-2"]


@pytest.mark.server
def test_a_second_server_with_its_own_key_is_refused(world, auth, live_server, client):
    """Two real hosts on one database, the second started with a key of its own."""
    voter = auth.token("resident-ca-1")
    first = live_server(workers=1)
    second = live_server(workers=1, extra_env={"VOTING_SECRET_KEY": "the-second-host-generated-its-own"})
    status, body = _put(first, voter, world.a.cycle.id, {"projects": ids(world.a, 0)})
    assert status == 200, body
    status, body = _put(second, voter, world.a.cycle.id, {"projects": ids(world.a, 1)})
    assert status == 409 and json.loads(body)["error"]["code"] == "voter_key_unknown"
    assert _current_ballots(world.a) == 1


# --- The count reconciles the record with the roll -----------------------------------------------------

def test_the_count_refuses_more_current_ballots_than_voters(world, client, auth, app):
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)})
    first = db.session.scalar(select(Ballot))
    # A ballot written into the database by hand, with the right key but no voter on the roll.
    db.session.add(Ballot(cycle_id=first.cycle_id, voter_code=voter_code(app.config["SECRET_KEY"], 1, 999_999),
                          voter_key=first.voter_key, version=1, cast_at=utcnow(), receipt="ZZZZ-ZZZZ-ZZZZ",
                          is_current=True, seq=2, chain_hash="0" * 64))
    db.session.commit()
    _close(world.a)
    response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/results")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "count_refused"
    assert "2" in response.get_json()["error"]["message"] and "1" in response.get_json()["error"]["message"]
    assert db.session.get(CycleResult, world.a.cycle.id) is None


def test_the_count_publishes_when_ballots_and_voters_agree(world, client, auth):
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)})
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 1)})
    put(client, auth.headers("resident-ca-2"), world.a, {"projects": ids(world.a, 1)})
    _close(world.a)
    response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/results")
    assert response.status_code == 200 and response.get_json()["ballots_counted"] == 2


# --- The electorate is fixed when voting opens -----------------------------------------------------------

def test_a_resident_registered_after_opening_cannot_vote(world, factory, client, auth):
    late = factory.resident(world.a.community, world.a.grid, "resident-ca-late",
                            registered_at=world.a.cycle.voting_opens_at + timedelta(minutes=5))
    db.session.commit()
    response = put(client, auth.headers("resident-ca-late") | {"Accept-Language": "en"}, world.a,
                   {"projects": ids(world.a, 0)})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_eligible"
    assert "after this vote opened" in response.get_json()["error"]["message"]
    # Nor with the grid worker's help.
    auth.login(world.a.worker.username)
    assisted = client.post(f"/cycles/{world.a.cycle.id}/assist/{late.resident_id}/ballot", data={
        "projects": [str(ids(world.a, 0)[0])], "credential": "anything"})
    assert assisted.status_code == 403
    assert _current_ballots(world.a) == 0
    # The electorate counted in the result is the one at the opening.
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)})
    _close(world.a)
    result = client.get(f"/api/v1/cycles/{world.a.cycle.id}/results").get_json()
    assert result["ballots_counted"] == 1
    assert db.session.get(CycleResult, world.a.cycle.id).eligible_voters == len(world.a.residents)


# --- Nothing stored links an account to its choices --------------------------------------------------------

def test_an_idempotent_answer_names_neither_the_account_nor_the_choices(world, client, auth):
    voter = auth.headers("resident-ca-1")
    answer = put(client, voter, world.a, {"projects": ids(world.a, 0, 1)}, key="phone-1").get_json()
    stored = db.session.scalar(select(IdempotentAnswer))
    columns = {c.name for c in IdempotentAnswer.__table__.columns}
    assert columns == {"id", "key_hash", "cycle_id", "request_hash", "body", "expires_at"}
    assert "phone-1" not in stored.key_hash and set(json.loads(stored.body)) == set(answer)
    assert "projects" not in stored.body and str(world.a.projects[0].id) not in json.loads(stored.body).values()
    assert stored.expires_at <= utcnow() + timedelta(hours=6, minutes=1)


def test_an_idempotent_answer_never_outlives_the_close(world, client, auth):
    world.a.cycle.voting_closes_at = utcnow() + timedelta(minutes=30)
    db.session.commit()
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)}, key="k")
    assert db.session.scalar(select(IdempotentAnswer.expires_at)) == world.a.cycle.voting_closes_at


def test_an_expired_answer_is_not_replayed_and_is_purged(world, client, auth):
    voter = auth.headers("resident-ca-1")
    put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="k")
    db.session.execute(IdempotentAnswer.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    again = put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="k")
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") is None
    assert again.get_json()["version"] == 2
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(IdempotentAnswer)) == 1  # the old one is gone


def test_the_count_deletes_the_cycles_answers(world, client, auth):
    put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)}, key="k")
    put(client, auth.headers("resident-cb-1"), world.b, {"projects": ids(world.b, 0)}, key="k")
    _close(world.a)
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/results").status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(IdempotentAnswer.cycle_id)).all() == [world.b.cycle.id]


# --- Receipts commit to the chain -------------------------------------------------------------------------

def test_a_receipt_carries_its_place_in_the_chain(world, client, auth):
    put(client, auth.headers("resident-ca-2"), world.a, {"projects": ids(world.a, 2)})
    cast = put(client, auth.headers("resident-ca-1"), world.a, {"projects": ids(world.a, 0)}).get_json()
    found = client.get(f"/api/v1/receipts/{cast['receipt']}").get_json()
    ballot = db.session.scalar(select(Ballot).where(Ballot.receipt == cast["receipt"]))
    assert found["seq"] == cast["seq"] == ballot.seq == 2
    assert found["chain_hash"] == cast["chain_hash"] == ballot.chain_hash
    assert db.session.get(BallotChain, world.a.cycle.id).head_hash == ballot.chain_hash


# --- Closing takes the lock that casting takes ----------------------------------------------------------------

def _put(base, token, cycle_id, body):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("PUT", f"/api/v1/cycles/{cycle_id}/ballot", body=json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _post(base, token, path, body):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


RACING, REVISIONS = 20, 3


@pytest.mark.server
def test_an_early_close_races_twenty_casts(world, factory, auth, live_server):
    """20 residents cast while staff close the vote early, on a real server with 4 workers: every
    acknowledged ballot is counted, none is later than the close, and every other cast is refused
    409 voting_closed."""
    for n in range(len(world.a.residents) + 1, RACING + 1):
        factory.resident(world.a.community, world.a.grid, f"resident-ca-{n}")
    db.session.commit()
    tokens = [auth.token(f"resident-ca-{n}") for n in range(1, RACING + 1)]
    staff = auth.token(world.a.staff.username)
    base = live_server(workers=4)
    cycle_id, projects = world.a.cycle.id, ids(world.a, 0, 1, 2, 3)
    answers: list = [None] * RACING
    closing: list = [None]
    barrier = threading.Barrier(RACING + 1)

    def cast(index):  # a first ballot and revisions, until voting is closed
        barrier.wait()
        answers[index] = [_put(base, tokens[index], cycle_id, {"projects": [projects[(index + n) % 4]]})
                          for n in range(REVISIONS)]

    def close():
        barrier.wait()
        closing[0] = _post(base, staff, f"/api/v1/cycles/{cycle_id}/phase", {"phase": "results", "reason": "测试"})

    threads = [threading.Thread(target=cast, args=(i,)) for i in range(RACING)] + [threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert closing[0][0] == 200, closing[0]
    db.session.commit()
    acknowledged = [[json.loads(body) for status, body in mine if status == 200] for mine in answers]
    refused = [json.loads(body)["error"]["code"] for mine in answers for status, body in mine if status != 200]
    assert set(refused) <= {"voting_closed"}, answers
    for mine in answers:  # once refused, never acknowledged again
        statuses = [status for status, _body in mine]
        assert statuses == sorted(statuses, key=lambda status: status != 200), statuses
    cycle = db.session.get(Cycle, cycle_id)
    recorded = {b.receipt: b for b in db.session.scalars(select(Ballot).where(Ballot.cycle_id == cycle_id))}
    assert sorted(recorded) == sorted(a["receipt"] for mine in acknowledged for a in mine)
    assert all(b.cast_at < cycle.voting_closes_at for b in recorded.values())
    latest = sorted(mine[-1]["receipt"] for mine in acknowledged if mine)
    assert sorted(r for r, b in recorded.items() if b.is_current) == latest
    result = _get_json(base, f"/api/v1/cycles/{cycle_id}/results")
    assert result["ballots_counted"] == len(latest)
    assert db.session.scalar(select(func.count()).select_from(RollEntry)
                             .where(RollEntry.cycle_id == cycle_id, RollEntry.has_voted)) == len(latest)


def _get_json(base, path):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()
