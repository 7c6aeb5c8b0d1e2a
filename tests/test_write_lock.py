"""SQLite's write lock follows the view's declared transaction, never the HTTP method
(`voting/database.py`): `@transactional` takes it at BEGIN, `@reads_before_lock` at the first
write, any other view never, and a write there is refused. So a sign-in, which writes nothing (the
page) or writes after the password hash (the API token), never holds the lock while it hashes."""
from __future__ import annotations

import fcntl
import http.client
import json
import os
import re
import threading
import time
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select, text
from werkzeug.security import generate_password_hash

from voting.accounts.access import public
from voting.accounts.models import User
from voting.audit.models import ActionLogEntry
from voting.audit.services import log_action
from voting.database import (AT_FIRST_WRITE, NOW, UndeclaredWrite, declared_lock, reads_before_lock,
                             transactional)
from voting.extensions import db

from conftest import TEST_PASSWORD

# Every route that writes, and when its SQLite transaction takes the write lock. A new writing
# route belongs here; a route not listed is a read, and a write in it is refused.
WRITING_ROUTES = {
    # the first count (`results.services.ensure_result`) locks the chain head with its first write
    "results.show": AT_FIRST_WRITE,
    "results.notice": AT_FIRST_WRITE,
    "api.cycle_results": AT_FIRST_WRITE,
    "audit.cycle_record": AT_FIRST_WRITE,
    "audit.download_record": AT_FIRST_WRITE,  # its download is logged once served (`audit/downloads.py`)
    "api.cycle_record": AT_FIRST_WRITE,
    # casting: reads and checks first, then the chain head
    "ballots.cast": AT_FIRST_WRITE,
    "ballots.assist_cast": AT_FIRST_WRITE,
    "api.put_ballot": AT_FIRST_WRITE,
    # the API's sign-in: the password hash before the token's row
    "api.create_token": AT_FIRST_WRITE,
    # views that are logged in the action log (GET included)
    "audit.action_log": NOW,
    "cycles.close": NOW,  # the early close's preview shows the count before the close
    "api.preview_close": NOW,
    "mobilise.turnout": NOW,
    "mobilise.doors": NOW,
    # forms and API calls that change state
    "accounts.activate_page": NOW,
    "accounts.change_password_page": NOW,
    "accounts.logout": NOW,
    "api.activate": NOW,
    "api.change_phase": NOW,
    "api.change_rules": NOW,
    "api.change_window": NOW,
    "api.file_cycle_objection": NOW,  # the first objection may be the first look: it counts then
    "api.answer_cycle_objection": NOW,
    "api.open_next_cycle": NOW,
    "api.ledger_approval": NOW,
    "api.project_carry_over": NOW,
    "api.project_end": NOW,
    "api.project_milestones": NOW,
    "api.project_rating": NOW,
    "api.project_spending": NOW,
    "api.project_status": NOW,
    "api.spending_reversal": NOW,
    "api.review": NOW,
    "api.submit": NOW,
    "api.upload_photos": NOW,
    "ballots.paper_add": NOW,
    "ballots.paper_decide": NOW,
    "ballots.paper_finish": NOW,
    "ballots.paper_open": NOW,
    "ballots.paper_reconcile": NOW,
    "ballots.paper_remove": NOW,
    "cycles.open_next": NOW,
    "cycles.phase": NOW,
    "cycles.review": NOW,
    "cycles.rules": NOW,
    "cycles.window": NOW,
    "proposals.propose": NOW,
    "results.object_to": NOW,
    "results.answer": NOW,
    "residents.confirm_import": NOW,
    "residents.print_voting_codes": NOW,
    "residents.set_status": NOW,
    "tracking.approve": NOW,
    "tracking.carry": NOW,
    "tracking.end": NOW,
    "tracking.change_status": NOW,
    "tracking.milestone": NOW,
    "tracking.rate": NOW,
    "tracking.reversal": NOW,
    "tracking.spending": NOW,
}

SLOW = "resident-ca-2"  # signs in with a password that is slow to check
SLOW_HASH = "pbkdf2:sha256:3000000"  # about 1 s to check: a sign-in that is still hashing when we look


def test_the_routes_that_take_the_write_lock(app):
    """Every route's declaration, compared with the list above (on both databases: the list is the
    app's, whatever the database)."""
    declared = {endpoint: declared_lock(view) for endpoint, view in app.view_functions.items()}
    assert {endpoint: lock for endpoint, lock in declared.items() if lock is not None} == WRITING_ROUTES
    # the sign-in page writes nothing: it takes no lock, though it is a POST
    assert declared["accounts.login"] is None


def test_reads_before_lock_needs_a_transactional_view():
    def view():
        return "nothing"

    with pytest.raises(TypeError, match="not @transactional"):
        reads_before_lock(view)


# --- the lock as a request sees it (SQLite) ------------------------------------------------------------

sqlite_only = pytest.mark.skipif(os.environ.get("VOTING_TEST_DATABASE_URL", "").startswith("postgresql"),
                                 reason="SQLite's write lock and its file do not exist on PostgreSQL")


def _lock_file() -> str:
    return f"{db.engine.url.database}-writers.lock"


def _writers_lock_is_free() -> bool:
    """Whether no transaction holds the writers' lock: taken and let go at once on a descriptor of our own."""
    handle = os.open(_lock_file(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True
    finally:
        os.close(handle)


def _probe_view():
    """Begin the request's transaction with a read, then say whether the lock is free; a write
    (an action log entry), then again."""
    db.session.execute(text("SELECT 1"))
    before = _writers_lock_is_free()
    log_action(db.session, None, "test.write_lock")
    return json.dumps([before, _writers_lock_is_free()])


@sqlite_only
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("declare", "free_before", "free_after"), [
    (transactional, False, False),
    (lambda view: reads_before_lock(transactional(view)), True, False),
])
def test_the_declaration_decides_when_the_lock_is_taken_whatever_the_method(app, client, method, declare,
                                                                              free_before, free_after):
    app.add_url_rule("/test/probe", "probe", public(declare(_probe_view)), methods=[method])
    response = client.open("/test/probe", method=method)
    assert response.status_code == 200
    assert json.loads(response.get_data()) == [free_before, free_after]
    assert _writers_lock_is_free()  # let go with the commit


@sqlite_only
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_write_in_a_view_not_declared_writing_is_refused(app, client, caplog, method):
    app.add_url_rule("/test/undeclared", "undeclared", public(_probe_view), methods=[method])
    response = client.open("/test/undeclared", method=method)
    assert response.status_code == 500
    assert "undeclared writes (INSERT) but is not declared @transactional" in caplog.text
    assert "UndeclaredWrite" in caplog.text
    db.session.rollback()
    assert db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "test.write_lock")) is None


@sqlite_only
def test_the_guard_names_the_view(app):
    app.add_url_rule("/test/undeclared", "undeclared", public(_probe_view))
    with (app.test_request_context("/test/undeclared"),
          pytest.raises(UndeclaredWrite, match="^undeclared writes")):
        try:
            _probe_view()
        finally:
            db.session.rollback()


# --- a sign-in on a real server -------------------------------------------------------------------------

def _request(base, method, path, body=None, headers=None):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie") or "", response.read()
    finally:
        connection.close()


def _sign_in_page(base, username):
    """Sign in through the page as a browser does (its CSRF token and cookie first); the status."""
    _status, cookie, page = _request(base, "GET", "/login")
    csrf = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
    body = urlencode({"csrf_token": csrf, "username": username, "password": TEST_PASSWORD})
    session = re.search(r"\bsession=[^;]+", cookie).group(0)
    status, _cookie, _body = _request(base, "POST", "/login", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": session})
    return status


def _sign_in_api(base, username):
    body = json.dumps({"username": username, "password": TEST_PASSWORD})
    status, _cookie, _body = _request(base, "POST", "/api/v1/auth/token", body,
                                      {"Content-Type": "application/json"})
    return status


@pytest.mark.server
def test_a_sign_in_holds_no_write_lock_while_it_hashes(world, auth, live_server):
    """While a resident's sign-in (the page, then the API) checks a slow password hash, the
    writers' lock is free and another resident's ballot is cast. (When a sign-in held the lock
    through the hash, the cast waited for the whole hash.)"""
    base = live_server(workers=2)
    token = auth.token("resident-ca-1")
    slow = db.session.scalar(select(User).where(User.username == SLOW))
    started = time.perf_counter()
    slow.password_hash = generate_password_hash(TEST_PASSWORD, SLOW_HASH)
    hashing = time.perf_counter() - started  # how long the server's check takes, near enough
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    for sign_in, signed_in in ((_sign_in_page, 302), (_sign_in_api, 200)):
        answers = {}
        signing_in = threading.Thread(
            target=lambda sign_in=sign_in: answers.update(status=sign_in(base, SLOW)))
        signing_in.start()
        time.sleep(min(0.3, hashing / 4))  # the server reads the account, then hashes
        free = _writers_lock_is_free() if db.engine.dialect.name == "sqlite" else True
        started = time.perf_counter()
        cast, _cookie, _body = _request(base, "PUT", f"/api/v1/cycles/{world.a.cycle.id}/ballot",
                                        json.dumps({"projects": [world.a.projects[0].id]}), headers)
        casting = time.perf_counter() - started
        still_signing_in = signing_in.is_alive()
        signing_in.join(60)

        assert answers["status"] == signed_in, sign_in.__name__
        assert cast == 200
        assert free, f"{sign_in.__name__}: the sign-in holds the writers' lock while it hashes"
        assert still_signing_in and casting < hashing / 2, (
            f"{sign_in.__name__}: the cast took {casting:.2f} s beside a sign-in hashing for {hashing:.2f} s")
