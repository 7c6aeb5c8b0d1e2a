"""Sign-in backoff, counted per account and per address, in memory or in Redis."""
import os

import pytest

from voting.app import create_app
from voting.extensions import db


@pytest.fixture(params=["memory", "redis"])
def limited_client(request, database_url, world):
    storage = "memory://"
    if request.param == "redis":
        storage = os.environ.get("VOTING_TEST_REDIS_URL")
        if not storage:
            pytest.skip("VOTING_TEST_REDIS_URL is not set (.ci/run sets it)")
        import redis

        redis.Redis.from_url(storage).flushdb()
    limited = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage})
    db.session.commit()
    yield limited.test_client()
    with limited.app_context():
        db.engine.dispose()


def token(client, username, password):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_forty_wrong_passwords_are_rate_limited(limited_client):
    statuses = [token(limited_client, "resident-ca-1", f"wrong-{n}").status_code for n in range(40)]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    # Even the right password waits now: the account is backing off.
    assert token(limited_client, "resident-ca-1", "Test-Pass-1").status_code == 429
    body = token(limited_client, "resident-ca-1", "x").get_json()
    assert body["error"]["code"] == "too_many_requests"


def test_the_backoff_of_one_account_leaves_another_alone(limited_client):
    for n in range(12):
        token(limited_client, "resident-ca-1", f"wrong-{n}")
    assert token(limited_client, "resident-ca-2", "Test-Pass-1").status_code == 200


def test_successful_sign_ins_do_not_count(limited_client):
    statuses = {token(limited_client, "resident-ca-2", "Test-Pass-1").status_code for _ in range(15)}
    assert statuses == {200}


def test_web_sign_in_is_limited_too(limited_client):
    statuses = [limited_client.post("/login", data={"username": "staff-ca", "password": f"bad-{n}"}).status_code
                for n in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
