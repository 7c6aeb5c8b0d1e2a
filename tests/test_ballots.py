"""Casting ballots through the API: the rules and their error codes (the stored ballot unchanged
after every refusal), revision, eligibility, idempotency, receipts and the hash chain."""
from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from voting.accounts.models import ApiToken
from voting.ballots import chain
from voting.ballots.codes import normalise_receipt
from voting.ballots.models import Ballot, BallotChain, RollEntry
from voting.ballots.casting import Voter, cycle_for_casting
from voting.ballots.services import cast_ballot
from voting.database import utcnow
from voting.extensions import db

RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def path(place) -> str:
    return f"/api/v1/cycles/{place.cycle.id}/ballot"


def put(client, headers, place, body, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.put(path(place), json=body, headers=headers | extra)


def ids(place, *numbers):
    return [place.projects[n].id for n in numbers]


def stored(place):
    """Every ballot of the place's cycle as comparable tuples."""
    db.session.expire_all()
    rows = db.session.scalars(select(Ballot).where(Ballot.cycle_id == place.cycle.id).order_by(Ballot.seq))
    return [(b.voter_code, b.version, b.is_current, b.receipt, b.chain_hash,
             tuple((c.project_id, c.points) for c in b.choices)) for b in rows]


def set_rules(place, **rules):
    for name, value in rules.items():
        setattr(place.cycle, name, value)
    db.session.commit()


@pytest.fixture()
def voter(world, auth):
    return auth.headers("resident-ca-1")


def test_cast_gives_a_receipt_and_the_ballot_reads_back(world, client, voter):
    response = put(client, voter, world.a, {"projects": ids(world.a, 0, 3)})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"receipt", "cast_at", "version", "seq", "chain_hash"}
    assert RECEIPT.match(body["receipt"]) and body["version"] == 1 and body["cast_at"].endswith("Z")
    current = client.get(path(world.a), headers=voter).get_json()
    assert current["receipt"] == body["receipt"] and current["version"] == 1
    assert current["projects"] == sorted(ids(world.a, 0, 3)) and current["seq"] == body["seq"]
    roll = db.session.scalar(select(RollEntry))
    assert roll.resident_id == world.a.residents[0].resident_id and roll.has_voted and roll.channel == "online"


def test_the_first_ballot_freezes_the_rules(world, client, voter):
    assert world.a.cycle.rules_frozen_at is None
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    db.session.expire_all()
    assert world.a.cycle.rules_frozen_at is not None
    assert world.b.cycle.rules_frozen_at is None


def test_no_ballot_yet_is_404(world, client, voter):
    response = client.get(path(world.a), headers=voter)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "no_ballot"


# --- Every rule and error code; the stored ballot unchanged after each refusal ------------------

APPROVAL_REFUSALS = [
    ("too_many_choices", lambda w: {"projects": ids(w.a, 0, 1, 2, 3)}),
    ("too_few_choices", lambda w: {"projects": []}),
    ("unknown_project", lambda w: {"projects": [999999]}),
    ("unknown_project", lambda w: {"projects": ["no-such-project"]}),
    ("unknown_project", lambda w: {"projects": [True]}),
    ("unknown_project", lambda w: {"projects": ids(w.b, 0)}),  # a project of another cycle
    ("duplicate_project", lambda w: {"projects": ids(w.a, 1, 1)}),
    ("duplicate_project", lambda w: {"projects": [w.a.projects[1].id, str(w.a.projects[1].id)]}),
    ("bad_points", lambda w: {"points": {str(w.a.projects[0].id): 2}}),
]


@pytest.mark.parametrize("code, body", APPROVAL_REFUSALS)
def test_approval_refusals_leave_the_ballot_unchanged(world, client, voter, code, body):
    assert put(client, voter, world.a, {"projects": ids(world.a, 0)}).status_code == 200
    before = stored(world.a)
    response = put(client, voter, world.a, body(world))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert stored(world.a) == before


def test_a_project_not_on_the_ballot_is_unknown(world, client, voter, factory):
    submitted = factory.project(world.a.cycle, "未审核", 10_000, status="submitted")
    db.session.commit()
    response = put(client, voter, world.a, {"projects": [submitted.id]})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unknown_project"


def test_approval_limits_follow_the_cycle(world, client, voter):
    set_rules(world.a, min_choices=2, max_choices=2)
    assert put(client, voter, world.a, {"projects": ids(world.a, 0)}).get_json()["error"]["code"] == "too_few_choices"
    assert put(client, voter, world.a, {"projects": ids(world.a, 0, 1, 2)}).get_json()["error"]["code"] == \
        "too_many_choices"
    assert put(client, voter, world.a, {"projects": ids(world.a, 0, 1)}).status_code == 200
    set_rules(world.b, min_choices=0, max_choices=None)
    other = client.put(path(world.b), json={"projects": []}, headers=_headers(client, "resident-cb-1"))
    assert other.status_code == 200


def _headers(client, username):
    from conftest import Auth

    return Auth(client).headers(username)


def test_knapsack_total_within_the_fund(world, client, voter):
    set_rules(world.a, method="knapsack", max_choices=None)
    # 80,000 + 60,000 + 50,000 + 30,000 = 220,000 > 200,000 (more than 3 projects is fine here).
    assert put(client, voter, world.a, {"projects": ids(world.a, 1, 2, 3)}).status_code == 200
    before = stored(world.a)
    response = put(client, voter, world.a, {"projects": ids(world.a, 0, 1, 2, 3)})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "over_budget"
    assert "200,000" in response.get_json()["error"]["message"]
    assert stored(world.a) == before
    world.a.projects[0].cost_fen = 60_000 * 100  # 200,000 exactly fits
    db.session.commit()
    assert put(client, voter, world.a, {"projects": ids(world.a, 0, 1, 2, 3)}).status_code == 200


@pytest.mark.parametrize("code, points", [
    ("bad_points", lambda w: {str(w.a.projects[0].id): 0}),
    ("bad_points", lambda w: {str(w.a.projects[0].id): -1}),
    ("bad_points", lambda w: {str(w.a.projects[0].id): "3"}),
    ("bad_points", lambda w: {str(w.a.projects[0].id): 1.5}),
    ("bad_points", lambda w: {str(w.a.projects[0].id): 6, str(w.a.projects[1].id): 5}),  # 11 > 10
    ("unknown_project", lambda w: {"abc": 1}),
    ("unknown_project", lambda w: {str(w.b.projects[0].id): 1}),
    ("too_few_choices", lambda w: {}),
])
def test_cumulative_refusals(world, client, voter, code, points):
    set_rules(world.a, method="cumulative", points=10, max_choices=None)
    good = {str(world.a.projects[0].id): 7, str(world.a.projects[2].id): 3}
    first = put(client, voter, world.a, {"points": good})
    assert first.status_code == 200, first.get_json()
    before = stored(world.a)
    response = put(client, voter, world.a, {"points": points(world)})
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert stored(world.a) == before
    assert client.get(path(world.a), headers=voter).get_json()["points"] == good


def test_cumulative_projects_list_gives_one_point_each(world, client, voter):
    set_rules(world.a, method="cumulative", points=3, max_choices=None)
    assert put(client, voter, world.a, {"projects": ids(world.a, 0, 1)}).status_code == 200
    assert client.get(path(world.a), headers=voter).get_json()["points"] == {str(i): 1 for i in ids(world.a, 0, 1)}


@pytest.mark.parametrize("body, code", [
    (lambda w: {"projects": ids(w.a, 0, 1)}, "too_many_choices"),
    (lambda w: {"projects": []}, "too_few_choices"),
])
def test_choose_one_is_exactly_one(world, client, voter, body, code):
    set_rules(world.a, method="choose_one", max_choices=None)
    assert put(client, voter, world.a, {"projects": ids(world.a, 2)}).status_code == 200
    before = stored(world.a)
    response = put(client, voter, world.a, body(world))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert stored(world.a) == before


@pytest.mark.parametrize("data, code", [
    ('{"projects": [1', "malformed_json"),
    ('[1, 2]', "malformed_json"),
    ('{"projects": "1,2"}', "malformed_ballot"),
    ('{"points": [1, 2]}', "malformed_ballot"),
    ('{}', "malformed_ballot"),
])
def test_malformed_bodies(world, client, voter, data, code):
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    before = stored(world.a)
    response = client.put(path(world.a), data=data, content_type="application/json", headers=voter)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code
    assert stored(world.a) == before


# --- The voting window ------------------------------------------------------------------------

@pytest.mark.parametrize("opens, closes", [(-10, -1), (1, 10)])
def test_voting_closed_outside_the_window(world, client, voter, opens, closes):
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    before = stored(world.a)
    now = utcnow()
    set_rules(world.a, voting_opens_at=now + timedelta(days=opens), voting_closes_at=now + timedelta(days=closes))
    response = put(client, voter, world.a, {"projects": ids(world.a, 1)})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "voting_closed"
    assert stored(world.a) == before


def test_voting_closed_in_another_phase(world, client, voter):
    set_rules(world.a, phase="review", voting_opens_at=None, voting_closes_at=None)
    response = put(client, voter, world.a, {"projects": ids(world.a, 0)})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "voting_closed"


def test_unknown_cycle(world, client, voter):
    response = client.put("/api/v1/cycles/999999/ballot", json={"projects": [1]}, headers=voter)
    assert response.status_code == 404


# --- Eligibility --------------------------------------------------------------------------------

def test_a_moved_resident_may_not_vote(world, client, voter):
    assert put(client, voter, world.a, {"projects": ids(world.a, 0)}).status_code == 200
    before = stored(world.a)
    world.a.residents[0].resident.status = "moved"
    db.session.commit()
    response = put(client, voter, world.a, {"projects": ids(world.a, 1)})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_eligible"
    assert stored(world.a) == before


@pytest.mark.parametrize("username", ["resident-cb-1", "staff-ca", "grid-ca-1", "admin", "auditor"])
def test_only_residents_of_the_community_vote(world, client, auth, username):
    response = put(client, auth.headers(username), world.a, {"projects": ids(world.a, 0)})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_eligible"
    assert stored(world.a) == []


def test_a_resident_account_without_a_registry_link_may_not_vote(world, client, auth, factory):
    factory.user("resident-ca-unlinked", "resident", world.a.community)
    db.session.commit()
    response = put(client, auth.headers("resident-ca-unlinked"), world.a, {"projects": ids(world.a, 0)})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_eligible"


def test_anonymous_cast_is_401(world, client):
    assert client.put(path(world.a), json={"projects": ids(world.a, 0)}).status_code == 401


def _chain_heads() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(BallotChain))


def test_casting_reads_its_own_token_and_refuses_before_anything_else(world, client, auth):
    """The cast reads its token with the cycle (`reads_own_token`): whatever is wrong with the
    token, the answer is 401, even for a cycle that does not exist, and nothing is written."""
    token = auth.token("resident-ca-1")
    unknown = f"/api/v1/cycles/{world.a.cycle.id + 999}/ballot"
    body = {"projects": ids(world.a, 0)}
    heads = _chain_heads()

    def refused(headers) -> None:
        for url in (path(world.a), unknown):
            response = client.put(url, json=body, headers=headers)
            assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized", url
            assert response.headers["WWW-Authenticate"] == "Bearer"

    refused({})
    refused({"Authorization": "Bearer forged-token"})
    refused({"Authorization": f"Basic {token}"})
    row = db.session.scalar(select(ApiToken))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    refused({"Authorization": f"Bearer {token}"})
    token = auth.token("resident-ca-1")
    world.a.residents[0].is_enabled = False
    db.session.commit()
    refused({"Authorization": f"Bearer {token}"})
    world.a.residents[0].is_enabled = True
    world.a.residents[0].session_version += 1  # signed out everywhere
    db.session.commit()
    refused({"Authorization": f"Bearer {token}"})
    assert stored(world.a) == [] and _chain_heads() == heads
    token = auth.token("resident-ca-1")  # a good token: now the unknown cycle is 404, the known one votes
    response = client.put(unknown, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_cycle"
    assert client.put(path(world.a), json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_cast_that_waited_for_the_chain_head_reads_the_record_again(world, app, auth):
    """A cast waits at the chain head while another ballot of the same voter is being recorded; it
    must supersede that ballot (version 2), though it began before that ballot was committed. (On
    PostgreSQL the statement that takes the lock reads the voter's ballot too, in a snapshot taken
    before it waited: it notices, and reads again.)"""
    token, cycle_id, project = auth.token("resident-ca-1"), world.a.cycle.id, world.a.projects[0].id
    url = path(world.a)
    db.session.commit()
    holding, let_go, versions, errors = threading.Event(), threading.Event(), {}, []

    def cast(name: str, hold: bool) -> None:
        with app.test_request_context(url, method="PUT"):  # as the API's view: SQLite locks at the first write
            try:
                bearer, cycle = cycle_for_casting(db.session, cycle_id, token)
                outcome = cast_ballot(db.session, cycle, Voter.of_account(bearer), [(project, 1)], "online", None,
                                      utcnow())
                if hold:
                    holding.set()
                    let_go.wait(30)
                db.session.commit()
                versions[name] = outcome.answer["version"]
            except Exception as error:  # noqa: BLE001  (reported by the assertion below)
                errors.append(repr(error))
            finally:
                db.session.remove()

    first = threading.Thread(target=cast, args=("first", True))
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=cast, args=("second", False))
    second.start()
    time.sleep(0.5)  # the second cast is now waiting for the chain head
    let_go.set()
    first.join(30)
    second.join(30)
    assert errors == [] and versions == {"first": 1, "second": 2}
    assert [(version, current) for _code, version, current, *_rest in stored(world.a)] == [(1, False), (2, True)]
    rows, texts = _recompute(cycle_id)  # the second links to the first
    assert [b.seq for b in rows] == [1, 2]
    assert chain.first_broken_link(cycle_id, zip(texts, [b.chain_hash for b in rows])) is None


# --- Revision -----------------------------------------------------------------------------------

def test_revisions_keep_every_version_and_one_current(world, client, voter):
    answers = [put(client, voter, world.a, {"projects": ids(world.a, n)}).get_json() for n in (0, 1, 2)]
    assert [a["version"] for a in answers] == [1, 2, 3]
    rows = stored(world.a)
    assert [(r[1], r[2]) for r in rows] == [(1, False), (2, False), (3, True)]
    assert len({r[0] for r in rows}) == 1  # one voter code
    assert client.get(path(world.a), headers=voter).get_json()["projects"] == ids(world.a, 2)
    first = client.get(f"/api/v1/receipts/{answers[0]['receipt']}").get_json()
    last = client.get(f"/api/v1/receipts/{answers[2]['receipt']}").get_json()
    assert first["superseded"] is True and last["superseded"] is False


def test_two_residents_have_their_own_ballots(world, client, auth, voter):
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    put(client, auth.headers("resident-ca-2"), world.a, {"projects": ids(world.a, 1)})
    rows = stored(world.a)
    assert len(rows) == 2 and all(r[1] == 1 and r[2] for r in rows) and rows[0][0] != rows[1][0]


def test_the_voter_code_is_a_keyed_pseudonym_not_on_the_roll(world, client, voter, app):
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    resident_id = world.a.residents[0].resident_id
    expected = hmac.new(app.config["SECRET_KEY"].encode(), f"voter:{world.a.cycle.id}:{resident_id}".encode(),
                        hashlib.sha256).hexdigest()[:24]
    assert stored(world.a)[0][0] == expected
    roll_columns = {c.name for c in RollEntry.__table__.columns}
    # (the household key of a vote of one per household: a keyed hash, never the address)
    assert roll_columns == {"id", "cycle_id", "resident_id", "has_voted", "channel", "worker_id", "household"}
    # ... and the ballot has nothing of the roll's: no channel, no worker
    assert {c.name for c in Ballot.__table__.columns} == {"id", "cycle_id", "voter_code", "voter_key", "version",
                                                          "cast_at", "receipt", "is_current", "seq", "chain_hash"}


# --- Idempotency-Key ----------------------------------------------------------------------------

def test_the_same_key_replays_the_first_answer(world, client, voter):
    body = {"projects": ids(world.a, 0, 1)}
    first = put(client, voter, world.a, body, key="phone-42")
    again = put(client, voter, world.a, body, key="phone-42")
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(stored(world.a)) == 1
    other = put(client, voter, world.a, body, key="phone-43")
    assert other.get_json()["version"] == 2


def test_the_same_key_with_another_body_is_refused(world, client, voter):
    put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="k-1")
    before = stored(world.a)
    response = put(client, voter, world.a, {"projects": ids(world.a, 1)}, key="k-1")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "idempotency_key_reused"
    assert stored(world.a) == before


def test_keys_belong_to_their_user(world, client, auth, voter):
    put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="shared")
    other = put(client, auth.headers("resident-ca-2"), world.a, {"projects": ids(world.a, 0)}, key="shared")
    assert other.status_code == 200 and other.headers.get("Idempotent-Replayed") is None
    assert len(stored(world.a)) == 2


def test_a_refusal_is_not_stored_under_its_key(world, client, voter):
    refused = put(client, voter, world.a, {"projects": []}, key="retry-me")
    assert refused.status_code == 422
    assert put(client, voter, world.a, {"projects": []}, key="retry-me").status_code == 422
    set_rules(world.a, min_choices=0)
    assert put(client, voter, world.a, {"projects": []}, key="retry-me").status_code == 200


@pytest.mark.parametrize("key", ["", "x" * 101, "with space", "中文"])
def test_bad_idempotency_keys(world, client, voter, key):
    response = client.put(path(world.a), json={"projects": ids(world.a, 0)},
                          headers=voter | {"Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_idempotency_key"


# --- Receipts -------------------------------------------------------------------------------------

def test_receipt_lookup_is_public_and_shows_no_choices(world, client, voter):
    answer = put(client, voter, world.a, {"projects": ids(world.a, 0)}).get_json()
    found = client.get(f"/api/v1/receipts/{answer['receipt']}")
    assert found.status_code == 200
    assert found.get_json() == {"found": True, "cycle": world.a.cycle.id, "recorded_at": answer["cast_at"],
                                "superseded": False, "seq": 1, "chain_hash": answer["chain_hash"]}
    typed = answer["receipt"].lower().replace("-", "").replace("0", "o")
    assert client.get(f"/api/v1/receipts/{typed}").get_json()["found"] is True


@pytest.mark.parametrize("code", ["AAAA-BBBB-CCCC", "nonsense", "A" * 40])
def test_unknown_receipts_are_not_found(world, client, code):
    response = client.get(f"/api/v1/receipts/{code}")
    assert response.status_code == 200 and response.get_json() == {"found": False}


def test_receipt_normalisation():
    assert normalise_receipt(" 7kq2 m9xd 4t1b ") == "7KQ2-M9XD-4T1B"
    assert normalise_receipt("OIL0-0000-0000") == "0110-0000-0000"
    assert normalise_receipt("7KQ2-M9XD-4T1U") is None
    assert normalise_receipt("7KQ2-M9XD") is None


# --- The hash chain ---------------------------------------------------------------------------------

def _recompute(cycle_id):
    rows = db.session.scalars(select(Ballot).where(Ballot.cycle_id == cycle_id).order_by(Ballot.seq)).all()
    texts = []
    for b in rows:
        texts.append(chain.canonical_row(seq=b.seq, voter_code=b.voter_code, version=b.version,
                                         choices=[(c.project_id, c.points) for c in b.choices], cast_at=b.cast_at,
                                         receipt=b.receipt))
    return rows, texts


def test_recomputing_the_chain_from_the_rows_gives_the_stored_hashes(world, client, auth, voter):
    others = auth.headers("resident-ca-2")
    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    put(client, others, world.a, {"projects": ids(world.a, 1, 2)})
    put(client, voter, world.a, {"projects": ids(world.a, 3)})
    put(client, auth.headers("resident-cb-1"), world.b, {"projects": ids(world.b, 0)})
    db.session.expire_all()
    rows, texts = _recompute(world.a.cycle.id)
    assert [b.seq for b in rows] == [1, 2, 3]
    assert chain.first_broken_link(world.a.cycle.id, zip(texts, [b.chain_hash for b in rows])) is None
    previous = chain.genesis_hash(world.a.cycle.id)
    assert previous == hashlib.sha256(f"voting:cycle:{world.a.cycle.id}".encode()).hexdigest()
    for b, text in zip(rows, texts):
        previous = hashlib.sha256((previous + "\n" + text).encode()).hexdigest()
        assert b.chain_hash == previous
    head = db.session.get(BallotChain, world.a.cycle.id)
    assert head.last_seq == 3 and head.head_hash == rows[-1].chain_hash
    # Superseding changed no recorded row, and the other cycle has its own chain from seq 1.
    assert rows[0].is_current is False
    b_rows, b_texts = _recompute(world.b.cycle.id)
    assert [b.seq for b in b_rows] == [1]
    assert chain.first_broken_link(world.b.cycle.id, zip(b_texts, [b.chain_hash for b in b_rows])) is None


def test_a_changed_row_breaks_the_chain_there(world, client, auth, voter):
    for n in (0, 1, 2):
        put(client, voter, world.a, {"projects": ids(world.a, n)})
    db.session.expire_all()
    rows, texts = _recompute(world.a.cycle.id)
    texts[1] = texts[1].replace(f"|{world.a.projects[1].id}:1|", f"|{world.a.projects[3].id}:1|")
    assert chain.first_broken_link(world.a.cycle.id, zip(texts, [b.chain_hash for b in rows])) == 1
    swapped = [texts[1], texts[0], texts[2]]
    assert chain.first_broken_link(world.a.cycle.id, zip(swapped, [b.chain_hash for b in rows])) == 0


def test_canonical_row_format():
    from datetime import datetime

    row = chain.canonical_row(seq=7, voter_code="ab12", version=2, choices=[(12, 1), (3, 2)],
                              cast_at=datetime(2026, 5, 1, 8, 30, 5), receipt="7KQ2-M9XD-4T1B")
    assert row == "v2|7|ab12|2|3:2,12:1|2026-05-01T08:30:05.000000Z|7KQ2-M9XD-4T1B"


def test_chain_module_imports_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(chain.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}


def test_one_current_ballot_is_a_database_rule(world, client, voter):
    """Even bypassing the service, the partial unique index refuses a second current ballot."""
    from sqlalchemy.exc import IntegrityError

    put(client, voter, world.a, {"projects": ids(world.a, 0)})
    first = db.session.scalar(select(Ballot))
    db.session.add(Ballot(cycle_id=first.cycle_id, voter_code=first.voter_code, voter_key=first.voter_key, version=2,
                          cast_at=utcnow(), receipt="ZZZZ-ZZZZ-ZZZZ", is_current=True, seq=2, chain_hash="0" * 64))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count(Ballot.id))) == 1


# --- The API's document and its refusals ------------------------------------------------------------

def _schema(document, reference):
    return document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


def test_the_document_gives_the_ballot_routes_bodies_answers_and_the_idempotency_key(client):
    document = client.get("/api/v1/openapi.json").get_json()
    cast = document["paths"]["/api/v1/cycles/{cycle_id}/ballot"]["put"]
    body = _schema(document, cast["requestBody"]["content"]["application/json"]["schema"])
    assert body["additionalProperties"] is False and body["examples"]
    assert body["properties"]["projects"]["items"]["type"] == "integer"
    assert body["properties"]["points"]["additionalProperties"]["type"] == "integer"
    key, = [p for p in cast["parameters"] if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key" and not key["required"] and key["schema"]["maxLength"] == 100
    assert {"200", "400", "401", "403", "404", "409", "422"} <= set(cast["responses"])
    assert "Idempotent-Replayed" in cast["responses"]["200"]["headers"]
    receipt = _schema(document, cast["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(receipt["required"]) == {"receipt", "cast_at", "version", "seq", "chain_hash"}
    own = _schema(document, document["paths"]["/api/v1/cycles/{cycle_id}/ballot"]["get"]["responses"]["200"]
                  ["content"]["application/json"]["schema"])
    assert {"projects", "points", "channel"} <= set(own["required"])
    assert document["components"]["schemas"]["Channel"]["enum"] == ["online", "assisted", "paper"]
    check = _schema(document, document["paths"]["/api/v1/receipts/{code}"]["get"]["responses"]["200"]["content"]
                    ["application/json"]["schema"])
    assert check["required"] == ["found"] and "security" not in document["paths"]["/api/v1/receipts/{code}"]["get"]
    counts = document["paths"]["/api/v1/cycles/{cycle_id}/assisted"]["get"]["responses"]["200"]
    assert _schema(document, counts["content"]["application/json"]["schema"])["type"] == "array"


def test_a_ballot_with_an_unknown_field_is_refused_naming_it(world, client, voter):
    response = put(client, voter, world.a, {"projects": ids(world.a, 0), "project": ids(world.a, 1)})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "unknown_field" and [f["field"] for f in error["fields"]] == ["project"]
    assert stored(world.a) == []


def test_a_replayed_answer_passes_the_answer_model(world, client, voter):
    first = put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="replay-me")
    again = put(client, voter, world.a, {"projects": ids(world.a, 0)}, key="replay-me")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert set(again.get_json()) == {"receipt", "cast_at", "version", "seq", "chain_hash"}
