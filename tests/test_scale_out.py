"""Several app hosts behind a load balancer (SPEC §6): two `voting serve` processes on different
ports share one PostgreSQL and one Redis, with no sticky routing. A token issued by one works on
the other, a ballot cast through one is seen through the other, a photo uploaded to one is served
by the other, the rate limits are counted
once for both, and 200 simultaneous casts from one resident, split across both, still leave
versions 1..n and exactly one current ballot.

Runs when VOTING_TEST_DATABASE_URL is PostgreSQL and VOTING_TEST_REDIS_URL is set (`.ci/run`
sets both for its PostgreSQL pass).
"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import threading
from collections import Counter
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from voting.app import ROOT
from voting.ballots import chain
from voting.ballots.models import Ballot, BallotChain, RollEntry
from voting.extensions import db
from voting.proposals.models import Project
from voting.storage import StoredFile

from conftest import TEST_PASSWORD

CASTS = 200
REDIS_URL = os.environ.get("VOTING_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not (os.environ.get("VOTING_TEST_DATABASE_URL", "").startswith("postgresql") and REDIS_URL),
                       reason="needs VOTING_TEST_DATABASE_URL on PostgreSQL and VOTING_TEST_REDIS_URL (.ci/run sets both)"),
]


def _call(base, method, path, body=None, token=None):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture()
def hosts(live_server):
    """Two servers on one database and one Redis, rate limits on as in production."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {"VOTING_REDIS_URL": REDIS_URL, "VOTING_RATELIMIT_ENABLED": "true"}
    return live_server(workers=2, extra_env=env), live_server(workers=2, extra_env=env)


def test_a_token_and_a_ballot_from_one_host_work_on_the_other(world, factory, hosts):
    a, b = hosts
    status, body = _call(a, "POST", "/api/v1/auth/token", {"username": "resident-ca-1", "password": TEST_PASSWORD})
    assert status == 200
    token = json.loads(body)["token"]
    status, body = _call(b, "GET", "/api/v1/me", token=token)
    assert status == 200 and json.loads(body)["username"] == "resident-ca-1"

    path = f"/api/v1/cycles/{world.a.cycle.id}/ballot"
    projects = [world.a.projects[0].id, world.a.projects[2].id]
    status, body = _call(a, "PUT", path, {"projects": projects}, token=token)
    assert status == 200
    cast = json.loads(body)
    status, body = _call(b, "GET", path, token=token)
    assert status == 200
    seen = json.loads(body)
    assert (seen["receipt"], seen["version"], seen["projects"]) == (cast["receipt"], 1, sorted(projects))
    status, body = _call(b, "GET", f"/api/v1/receipts/{cast['receipt']}")
    assert status == 200 and json.loads(body) == {"found": True, "cycle": world.a.cycle.id, "seq": 1,
                                                  "recorded_at": cast["cast_at"], "superseded": False,
                                                  "chain_hash": cast["chain_hash"]}

    status, body = _call(b, "PUT", path, {"projects": projects[:1]}, token=token)  # revised on the other host
    assert status == 200 and json.loads(body)["version"] == 2
    status, body = _call(a, "GET", f"/api/v1/receipts/{cast['receipt']}")
    assert json.loads(body)["superseded"] is True

    _a_photo_uploaded_on_one_host_shows_on_the_other(world, factory, a, b, token)  # same hosts: no new start


def _send(base, method, path, body: bytes, headers: dict):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _a_photo_uploaded_on_one_host_shows_on_the_other(world, factory, a, b, token):
    """Photos are stored in the database, not on the disk of the host that received them."""
    cycle = factory.cycle(world.a.community, world.a.cycle.year + 1, phase="collection")
    db.session.commit()
    proposal = {"title": "路灯", "description": "太黑", "category": "lighting", "location": "3栋",
                "estimated_cost": "1200"}
    status, body = _call(a, "POST", f"/api/v1/cycles/{cycle.id}/proposals", proposal, token=token)
    assert status == 201
    project_id = json.loads(body)["id"]
    jpeg = io.BytesIO()
    Image.new("RGB", (48, 32), "orange").save(jpeg, "JPEG")
    boundary, form = encode_multipart(MultiDict({"photos": FileStorage(io.BytesIO(jpeg.getvalue()), "p.jpg")}))
    status, _headers, body = _send(a, "POST", f"/api/v1/proposals/{project_id}/photos", form, {
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201
    url = json.loads(body)["photos"][0]
    status, _headers, _body = _send(b, "GET", url, b"", {})
    assert status == 302  # not public yet: on the other host too, the access rules hold
    db.session.execute(update(Project).where(Project.id == project_id)
                       .values(status="on_ballot", cost_fen=Project.estimated_cost_fen))
    db.session.commit()
    stored = db.session.scalar(select(StoredFile).where(StoredFile.name == url.rpartition("/")[2]))
    status, headers, served = _send(b, "GET", url, b"", {})
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert hashlib.sha256(served).hexdigest() == stored.sha256 == headers["ETag"].strip('"')
    assert _send(a, "GET", url, b"", {})[2] == served
    # Both test hosts share this machine's instance folder: what they share must be the database.
    assert not (ROOT / "instance" / "uploads" / stored.name).exists()


def _remaining(base, path) -> int:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return int(response.headers["X-RateLimit-Remaining"])
    finally:
        connection.close()


def test_rate_limits_count_once_for_both_hosts(world, hosts):
    a, b = hosts
    path = "/api/v1/receipts/0000-0000-0000"  # 60 a minute per address
    # The second host sees the first host's hit (a new window may start in between: try again).
    pairs = [(_remaining(a, path), _remaining(b, path)) for _attempt in range(3)]
    assert any(on_b == on_a - 1 for on_a, on_b in pairs), pairs


def test_200_simultaneous_casts_split_across_two_hosts(world, hosts):
    a, b = hosts
    status, body = _call(a, "POST", "/api/v1/auth/token", {"username": "resident-ca-2", "password": TEST_PASSWORD})
    token = json.loads(body)["token"]
    projects = [p.id for p in world.a.projects]
    path = f"/api/v1/cycles/{world.a.cycle.id}/ballot"
    results = [None] * CASTS
    barrier = threading.Barrier(CASTS)

    def send(index):
        body = {"projects": [projects[index % 4], projects[(index + 1) % 4]]}
        barrier.wait()
        try:
            results[index] = _call((a, b)[index % 2], "PUT", path, body, token=token)
        except OSError as error:  # a refused or reset connection is a failure too
            results[index] = (0, repr(error).encode())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(CASTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(status for status, _body in results)
    assert set(statuses) <= {200, 409, 429}, [r for r in results if r[0] not in (200, 409, 429)][:3]
    assert statuses[200] >= 1
    versions = sorted(json.loads(body)["version"] for status, body in results if status == 200)
    assert versions == list(range(1, len(versions) + 1))
    by_host = Counter(index % 2 for index, (status, _body) in enumerate(results) if status == 200)
    assert set(by_host) == {0, 1}  # both hosts recorded some of them

    db.session.commit()  # end the test's read transaction: see what the servers wrote
    ballots = db.session.scalars(select(Ballot).where(Ballot.cycle_id == world.a.cycle.id).order_by(Ballot.seq)).all()
    assert [b.version for b in ballots] == list(range(1, len(versions) + 1))
    assert sum(b.is_current for b in ballots) == 1 and ballots[-1].is_current
    assert {json.loads(body)["receipt"] for status, body in results if status == 200} == {b.receipt for b in ballots}
    texts = [chain.canonical_row(seq=b.seq, voter_code=b.voter_code, version=b.version,
                                 choices=[(c.project_id, c.points) for c in b.choices],
                                 cast_at=b.cast_at, receipt=b.receipt) for b in ballots]
    assert chain.first_broken_link(world.a.cycle.id, zip(texts, [b.chain_hash for b in ballots])) is None
    assert db.session.get(BallotChain, world.a.cycle.id).last_seq == len(ballots)
    assert db.session.scalar(select(func.count(RollEntry.id))) == 1
