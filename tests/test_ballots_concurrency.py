"""One resident's phone sends 200 ballots at once to a real server with several workers: each is
answered cleanly, the versions are exactly 1..n, and exactly one current ballot remains."""
from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from voting.ballots import chain
from voting.ballots.models import Ballot, BallotChain, RollEntry
from voting.extensions import db

CASTS = 200
WORKERS = 4


def _put(base, token, path, body, key=None):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    try:
        connection.request("PUT", path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _storm(base, token, path, bodies, keys):
    """Send every request at the same moment (threads released by one barrier)."""
    results = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def send(index):
        barrier.wait()
        try:
            results[index] = _put(base, token, path, bodies[index], keys[index])
        except OSError as error:  # a refused or reset connection is a failure too
            results[index] = (0, repr(error).encode())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


@pytest.mark.server
def test_200_simultaneous_casts_from_one_resident(world, auth, live_server, capsys):
    base = live_server(workers=WORKERS)
    token = auth.token("resident-ca-1")
    projects = [p.id for p in world.a.projects]
    path = f"/api/v1/cycles/{world.a.cycle.id}/ballot"
    bodies = [{"projects": [projects[i % 4], projects[(i + 1) % 4]]} for i in range(CASTS)]

    results, seconds = _storm(base, token, path, bodies, [None] * CASTS)

    statuses = Counter(status for status, _body in results)
    with capsys.disabled():
        print(f"\n{CASTS} simultaneous casts, {WORKERS} workers, {db.engine.dialect.name}: "
              f"{dict(statuses)} in {seconds:.2f} s")
    assert set(statuses) <= {200, 409, 429}, [r for r in results if r[0] not in (200, 409, 429)][:3]
    versions = sorted(json.loads(body)["version"] for status, body in results if status == 200)
    assert versions == list(range(1, len(versions) + 1))
    assert statuses[200] >= 1

    db.session.commit()  # end the test's read transaction: see what the server wrote
    ballots = db.session.scalars(select(Ballot).where(Ballot.cycle_id == world.a.cycle.id).order_by(Ballot.seq)).all()
    assert len(ballots) == len(versions)
    assert sum(b.is_current for b in ballots) == 1
    assert max(ballots, key=lambda b: b.version).is_current
    assert [b.seq for b in ballots] == list(range(1, len(ballots) + 1))
    assert [b.version for b in ballots] == [b.seq for b in ballots]  # one voter: the chain order is version order
    receipts = {json.loads(body)["receipt"] for status, body in results if status == 200}
    assert receipts == {b.receipt for b in ballots}
    texts = [chain.canonical_row(seq=b.seq, voter_code=b.voter_code, version=b.version,
                                 choices=[(c.project_id, c.points) for c in b.choices],
                                 cast_at=b.cast_at, receipt=b.receipt) for b in ballots]
    assert chain.first_broken_link(world.a.cycle.id, zip(texts, [b.chain_hash for b in ballots])) is None
    assert db.session.get(BallotChain, world.a.cycle.id).last_seq == len(ballots)
    assert db.session.scalar(select(func.count(RollEntry.id))) == 1


@pytest.mark.server
def test_simultaneous_casts_with_one_idempotency_key_record_one_ballot(world, auth, live_server):
    base = live_server(workers=WORKERS)
    token = auth.token("resident-ca-2")
    body = {"projects": [world.a.projects[0].id]}
    path = f"/api/v1/cycles/{world.a.cycle.id}/ballot"

    results, _seconds = _storm(base, token, path, [body] * 40, ["same-phone-tap"] * 40)

    assert {status for status, _body in results} <= {200, 409, 429}
    answers = {body for status, body in results if status == 200}
    assert len(answers) == 1 and json.loads(answers.pop())["version"] == 1
    db.session.commit()  # end the test's read transaction: see what the server wrote
    assert db.session.scalar(select(func.count(Ballot.id)).where(Ballot.cycle_id == world.a.cycle.id)) == 1
