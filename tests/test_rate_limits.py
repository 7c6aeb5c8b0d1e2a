"""Sign-in backoff, counted per (account, address), per account and per address: in memory, in the
database (the default without Redis) or in Redis; and against a live server of two workers."""
import http.client
import json
import os
import sqlite3
import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from voting.app import create_app
from voting.config import Settings, limiter_storage_uri
from voting.extensions import db, limiter

from conftest import TEST_PASSWORD

SLOW_LIMIT = "12 per hour"  # failures per account from all addresses on the live server (60 in service)


@pytest.fixture(params=["memory", "database", "redis"])
def limited_client(request, database_url, world):
    storage = "memory://" if request.param == "memory" else limiter_storage_uri(database_url)
    if request.param == "redis":
        storage = os.environ.get("VOTING_TEST_REDIS_URL")
        if not storage:
            pytest.skip("VOTING_TEST_REDIS_URL is not set (.ci/run sets it)")
        import redis

        redis.Redis.from_url(storage).flushdb()
    limited = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": storage})
    limiter.reset()  # the database's counts outlive a test (SQLite's file of limits)
    db.session.commit()
    yield limited.test_client()
    limiter.reset()
    if hasattr(limiter.storage, "dispose"):
        limiter.storage.dispose()
    with limited.app_context():
        db.engine.dispose()


def token(client, username, password, address="127.0.0.1"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_forty_wrong_passwords_are_rate_limited(limited_client):
    statuses = [token(limited_client, "resident-ca-1", f"wrong-{n}").status_code for n in range(40)]
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    # Even the right password waits now, from this address: the account is backing off here.
    assert token(limited_client, "resident-ca-1", "Test-Pass-1").status_code == 429
    body = token(limited_client, "resident-ca-1", "x").get_json()
    assert body["error"]["code"] == "too_many_requests"
    # From another address the resident signs in: the guesser counted 10 failures, not 40.
    assert token(limited_client, "resident-ca-1", "Test-Pass-1", "10.0.0.2").status_code == 200


def test_failures_from_many_addresses_engage_the_accounts_slower_limit(limited_client):
    limited_client.application.config["SIGN_IN_FAILURES_PER_ACCOUNT"] = "5 per hour"
    statuses = [token(limited_client, "resident-ca-1", f"wrong-{n}", f"10.0.1.{n}").status_code for n in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    assert token(limited_client, "resident-ca-1", "Test-Pass-1", "10.0.2.1").status_code == 429
    assert token(limited_client, "resident-ca-2", "Test-Pass-1", "10.0.2.1").status_code == 200


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


def test_counting_never_waits_for_sqlites_writers(database_url, world):
    """SQLite's counts live in a file of their own: a sign-in is counted while another process holds
    the app's write lock (a long import, a queue of casts), and no count ever holds that lock."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": True,
                      "RATELIMIT_STORAGE_URI": limiter_storage_uri(database_url)})
    limiter.reset()
    writer = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert token(app.test_client(), "resident-ca-1", "wrong").status_code == 401
        assert time.monotonic() - started < 5  # the busy timeout is 30 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        limiter.reset()
        limiter.storage.dispose()
        with app.app_context():
            db.engine.dispose()


# --- a live server of two workers, no Redis: the counts live in the database -----------------------

def _post(base, path, body, address):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Content-Type": "application/json", "X-Forwarded-For": address})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture()
def two_workers(live_server, database_url):
    """`voting serve` with two workers, rate limits on, no Redis, behind one proxy (X-Forwarded-For)."""
    from limits.storage import storage_from_string

    storage = storage_from_string(limiter_storage_uri(database_url))
    storage.reset()
    yield live_server(workers=2, extra_env={"VOTING_RATELIMIT_ENABLED": "true", "VOTING_PROXY_COUNT": "1",
                                            "VOTING_SIGN_IN_FAILURES_PER_ACCOUNT": SLOW_LIMIT})
    storage.reset()
    storage.dispose()


@pytest.mark.server
def test_sign_in_limits_hold_across_workers_and_spare_the_resident_elsewhere(world, two_workers):
    def sign_in(password, address, username="resident-ca-1"):
        return _post(two_workers, "/api/v1/auth/token", {"username": username, "password": password}, address)

    # 20 wrong passwords from one address, each on a new connection to either worker:
    # 10 fail, the rest wait (counted per worker, up to 20 would have failed).
    statuses = [sign_in(f"wrong-{n}", "203.0.113.7") for n in range(20)]
    assert statuses == [401] * 10 + [429] * 10
    assert sign_in(TEST_PASSWORD, "203.0.113.7") == 429
    # The resident, from another address, signs in.
    assert sign_in(TEST_PASSWORD, "198.51.100.20") == 200
    # Failures from further addresses reach the account's slower limit (12 here): then everyone waits.
    assert [sign_in("wrong", "198.51.100.21") for _ in range(3)] == [401, 401, 429]
    assert sign_in(TEST_PASSWORD, "198.51.100.22") == 429
    assert sign_in(TEST_PASSWORD, "198.51.100.22", "resident-ca-2") == 200


def test_a_bad_slow_limit_is_refused_at_start_up(tmp_path):
    environ = {"VOTING_SECRET_KEY": "k", "VOTING_SIGN_IN_FAILURES_PER_ACCOUNT": "sixty an hour"}
    with pytest.raises(ValueError):
        Settings.from_env(tmp_path, environ)
    environ["VOTING_SIGN_IN_FAILURES_PER_ACCOUNT"] = " 100 per hour "
    assert Settings.from_env(tmp_path, environ).flask_config()["SIGN_IN_FAILURES_PER_ACCOUNT"] == "100 per hour"
