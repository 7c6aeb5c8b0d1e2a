"""Shared fixtures: an app on a migrated database (SQLite, or PostgreSQL when
VOTING_TEST_DATABASE_URL is set), the test client, sign-in helpers, and a real server.

The schema is built once per session by the migrations; every test starts from empty tables.
"""
from __future__ import annotations

import contextvars
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, event, text

os.environ.setdefault("VOTING_SECRET_KEY", "test-secret-key-not-for-production")
os.environ["VOTING_RATELIMIT_ENABLED"] = "false"

from voting.app import create_app  # noqa: E402
from voting.extensions import db  # noqa: E402

from factories import Factory  # noqa: E402

TEST_PASSWORD = "Test-Pass-1"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """The test database, emptied and migrated to head once per session."""
    url = os.environ.get("VOTING_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(revision="heads")
        db.engine.dispose()
    return url


@pytest.fixture()
def app(database_url, tmp_path):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
    })
    # What the app writes to its instance folder (the demo's accounts, uploads) stays out of the
    # checkout's instance/, where `make run` keeps the developer's own demo and its accounts.
    app.instance_path = str(tmp_path / "instance")
    os.makedirs(app.instance_path)
    app.jinja_env.bytecode_cache = _COMPILED_TEMPLATES
    with app.app_context():
        event.listen(db.engine, "connect", _commit_without_fsync)
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


class _SessionBytecodeCache(BytecodeCache):
    """Each template compiled once a test session, not once a test: every test builds its own app,
    whose Jinja environment would parse and compile again every template the test renders (about
    10 ms each). Jinja checks each entry against the template's source (its checksum) before
    using it, and every app is built by the same `create_app`, so each renders the same code."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _SessionBytecodeCache()


def _commit_without_fsync(dbapi_connection, _record) -> None:
    """The test process's own connections commit without waiting for the disk (about 4 ms a commit
    on SQLite with `synchronous=FULL`, and on PostgreSQL, against 0.1 ms). Only a crash of the
    machine (or of PostgreSQL) could lose such a commit, which no test makes: processes killed by
    the fault tests are clients, and the servers the tests start keep the app's own settings."""
    cursor = dbapi_connection.cursor()
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor.execute("PRAGMA synchronous=OFF")
    else:
        cursor.execute("SET synchronous_commit = off")  # for the session: kept past this transaction
        dbapi_connection.commit()
    cursor.close()


def _empty_tables() -> None:
    """Delete every row, and on PostgreSQL restart the id sequences (TRUNCATE would take about
    100 ms a test: it replaces every table's files)."""
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(oid, 1, false) FROM pg_class "
                              "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"))


class IsolatedClient(FlaskClient):
    """A client whose requests run as on the real server, where no context outlives a request.

    The test's own session is committed first, so the request sees what the test made. The
    request then runs in an empty `contextvars.Context`: the `app` fixture's app context (where the
    test and its factories work) is invisible to it, so Flask pushes the request's own app
    context, with its own `g` and database session, and tears it down (closing that session) when
    the view returns. The body is read after that teardown, outside any context, as gunicorn reads
    it: a streamed body that still needs the view's session or its objects fails here as it fails
    on the server (an error in the body propagates out of the call).
    """

    def open(self, *args, **kwargs):
        if not has_app_context():  # following a redirect: already in the request's empty context
            return super().open(*args, **kwargs)
        db.session.commit()
        return contextvars.Context().run(self._served, *args, **kwargs)

    def _served(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        response.make_sequence()  # the whole body, produced the way a server sends it
        response.close()
        return response

    def __enter__(self):
        raise TypeError("IsolatedClient keeps no context after a request (the server keeps none)")


@pytest.fixture()
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


@pytest.fixture()
def factory(app) -> Factory:
    return Factory(db.session, TEST_PASSWORD)


@pytest.fixture()
def world(factory):
    """Two communities in one sub-district, each with a grid, staff, a grid worker, residents and
    a cycle in voting with four projects on the ballot; committed."""
    built = factory.world()
    db.session.commit()
    return built


class Auth:
    """Sign in through the real login form, or get an API token."""

    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = TEST_PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self.client.post("/logout")

    def token(self, username: str, password: str = TEST_PASSWORD) -> str:
        response = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def headers(self, username: str) -> dict:
        return {"Authorization": f"Bearer {self.token(username)}"}


def cast(client, auth: Auth, username: str, cycle_id: int, projects: list[int]) -> None:
    """`username` casts a ballot for `projects` through the API; it must be accepted."""
    response = client.put(f"/api/v1/cycles/{cycle_id}/ballot", json={"projects": projects},
                          headers=auth.headers(username))
    assert response.status_code == 200, response.get_json()


@pytest.fixture()
def auth(client) -> Auth:
    return Auth(client)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def live_server(app, database_url):
    """Start `voting serve` (gunicorn) on the test database; call with the number of workers.
    `live_server.processes[base]` is the server's process (the gunicorn master)."""
    started = []

    def start(workers: int = 3, extra_env: dict | None = None) -> str:
        port = _free_port()
        env = os.environ | {"VOTING_DATABASE_URL": database_url, "VOTING_RATELIMIT_ENABLED": "false"} | (extra_env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "voting.console", "serve", "--port", str(port), "--workers", str(workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        start.processes[base] = process
        for _attempt in range(200):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return base
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()) from None
                time.sleep(0.1)
        raise RuntimeError("voting serve did not answer /healthz")

    start.processes = {}
    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
