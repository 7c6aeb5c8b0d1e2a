"""Every download, as the server serves it: the body streams after the view has ended (its session
closed), and the download is in the action log once it has been served, exactly once; a download
that fails is not. Through the test client (which keeps no context across a response, as the
server keeps none) and through a real `voting serve`."""
from __future__ import annotations

import csv
import gc
import http.cookiejar
import io
import json
import re
import urllib.parse
import urllib.request
import zipfile

import pytest
from flask import Response, stream_with_context
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm.exc import DetachedInstanceError

from voting.audit import downloads, views
from voting.audit.chainlog import first_bad_row
from voting.audit.downloads import DownloadLog
from voting.audit.models import ActionLogEntry, ActionLogHead
from voting.audit.services import as_row, entries, log_action
from voting.ballots.models import Ballot
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db

from conftest import TEST_PASSWORD
from test_records import closed  # noqa: F401  (the fixture: a closed cycle with eight ballot versions)

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def log_rows() -> list[ActionLogEntry]:
    db.session.rollback()  # a fresh snapshot: the request wrote in its own session
    return db.session.scalars(select(ActionLogEntry).order_by(ActionLogEntry.seq)).all()


def first_receipt(cycle_id: int) -> str:
    return db.session.scalar(select(Ballot.receipt).where(Ballot.cycle_id == cycle_id, Ballot.seq == 1))


def xlsx_cells(body: bytes) -> set:
    book = load_workbook(io.BytesIO(body), read_only=True)
    cells = {cell for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row}
    book.close()
    return cells


# --- the audit downloads, through the test client ------------------------------------------------------

RECORD = [("csv", CSV), ("json", "application/json"), ("xlsx", XLSX), ("pb", "text/plain; charset=utf-8")]


@pytest.mark.parametrize("file_format, content_type", RECORD)
def test_a_record_download_is_served_and_logged_once(closed, client, auth, file_format, content_type):
    cycle = closed.a.cycle.id
    receipt = first_receipt(cycle)
    auth.login("auditor")
    before = len(log_rows())
    response = client.get(f"/audit/cycles/{cycle}/record.{file_format}")
    assert response.status_code == 200 and response.content_type == content_type
    assert f"ballot-record-ca-2026-cycle{cycle}.{file_format}" in response.headers["Content-Disposition"]
    if file_format == "xlsx":
        assert receipt in xlsx_cells(response.data)
    elif file_format == "pb":
        votes = response.get_data(as_text=True).split("VOTES\n")[1].splitlines()
        assert len(votes) == 1 + 6  # the column names, then the six current ballots
    else:
        assert receipt in response.get_data(as_text=True)
    logged = log_rows()[before:]
    assert [(e.actor, e.action, e.community) for e in logged] == [("auditor", "audit.download_record", "ca")]
    assert json.loads(logged[0].detail) == {"cycle": cycle, "format": file_format, "status": "final",
                                            "rows": 8, "via": "page"}


def test_the_record_api_is_served_and_logged_once(closed, client, auth):
    cycle = closed.a.cycle.id
    headers = auth.headers("admin")
    before = len(log_rows())
    response = client.get(f"/api/v1/cycles/{cycle}/record", headers=headers)
    assert response.status_code == 200 and response.content_type == CSV
    assert first_receipt(cycle) in response.get_data(as_text=True)
    logged = log_rows()[before:]
    assert [(e.actor, e.action, json.loads(e.detail)["via"]) for e in logged] == [
        ("admin", "audit.download_record", "api")]


def test_the_voter_roll_is_served_and_logged_once(closed, client, auth):
    cycle = closed.a.cycle.id
    auth.login("auditor")
    before = len(log_rows())
    response = client.get(f"/audit/cycles/{cycle}/roll.csv")
    assert response.status_code == 200 and response.content_type == CSV
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "grid,grid_name,name,channel" and len(lines) == 1 + 6
    assert any(line.startswith(f"{closed.a.grid.code},") and line.endswith(",assisted") for line in lines[1:])
    logged = log_rows()[before:]
    assert [(e.actor, e.action, e.community, json.loads(e.detail)) for e in logged] == [
        ("auditor", "audit.download_roll", "ca", {"cycle": cycle})]


def test_the_action_log_is_served_and_logged_once(world, client, auth):
    log_action(db.session, world.a.staff, "test.action", world.a.community, note="a note")
    auth.login("auditor")
    before = len(log_rows())
    response = client.get("/audit/log.csv")
    assert response.status_code == 200 and response.content_type == CSV
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["actor"], r["action"], r["community"], json.loads(r["detail"])) for r in table][0] == (
        "staff-ca", "test.action", "ca", {"note": "a note"})
    logged = log_rows()[before:]
    assert [(e.actor, e.action) for e in logged] == [("auditor", "audit.download_log")]
    assert first_bad_row([as_row(e) for e in entries(db.session)]) is None  # the chain is whole


def test_the_verifier_is_served_and_logged_once_for_staff(closed, client, auth):
    before = len(log_rows())
    anonymous = client.get("/audit/verify_record.py")
    assert anonymous.status_code == 200 and b"def main(" in anonymous.data
    assert anonymous.content_type == "text/x-python; charset=utf-8"
    assert len(log_rows()) == before  # nobody to name
    auth.login("auditor")
    before = len(log_rows())
    assert b"def main(" in client.get("/audit/verify_record.py").data
    assert [(e.actor, e.action) for e in log_rows()[before:]] == [("auditor", "audit.download_verifier")]


@pytest.mark.parametrize("path, content_type", [("/archive.csv", CSV), ("/archive.xlsx", XLSX)])
def test_the_archive_downloads_are_served_and_not_logged(world, factory, client, path, content_type):
    old = factory.cycle(world.a.community, year=2020, phase="closed")
    factory.project(old, "楼道声控灯", 20_000, status="completed", votes=30, completed_at=utcnow())
    db.session.commit()
    before = len(log_rows())
    response = client.get(path)
    assert response.status_code == 200 and response.content_type == content_type
    body = response.get_data(as_text=True) if path.endswith(".csv") else xlsx_cells(response.data)
    assert "楼道声控灯" in body
    assert len(log_rows()) == before  # public, and not an audit download


# --- a download that fails is not logged -----------------------------------------------------------


def failing_after_one(rows):
    """The rows, failing after the first (a database gone away midway)."""
    def rows_then_failure(*args):
        iterator = iter(rows(*args))
        yield next(iterator)
        raise RuntimeError("the database went away")
    return rows_then_failure


@pytest.mark.parametrize("path, name", [("roll.csv", "roll_rows"), ("record.csv", "record_lines"),
                                        ("record.json", "record_lines")])
def test_a_download_that_fails_midway_is_not_logged(closed, client, auth, monkeypatch, path, name):
    auth.login("auditor")
    before = [e.seq for e in log_rows()]
    head = db.session.scalar(select(ActionLogHead.chain_hash))
    monkeypatch.setattr(views, name, failing_after_one(getattr(views, name)))
    with pytest.raises(RuntimeError, match="went away"):
        client.get(f"/audit/cycles/{closed.a.cycle.id}/{path}")
    assert [e.seq for e in log_rows()] == before
    assert db.session.scalar(select(ActionLogHead.chain_hash)) == head
    monkeypatch.undo()
    assert client.get(f"/audit/cycles/{closed.a.cycle.id}/{path}").status_code == 200
    assert [e.action for e in log_rows()[len(before):]] == [f"audit.download_{path.split('.')[0]}"]


def test_a_head_request_is_not_a_download(closed, client, auth):
    """HEAD answers the headers only: nothing is served, so nothing is logged (and nothing is left open)."""
    auth.login("auditor")
    before = len(log_rows())
    for path in ("roll.csv", "record.csv", "record.xlsx", "record.pb"):
        response = client.head(f"/audit/cycles/{closed.a.cycle.id}/{path}")
        assert response.status_code == 200 and response.data == b"" and "attachment" in \
            response.headers["Content-Disposition"], path
    gc.collect()  # an unclosed spool file would warn here, and warnings fail the test
    assert len(log_rows()) == before


def test_a_bad_cycle_is_refused_and_logs_nothing(closed, client, auth):
    auth.login("auditor")
    before = len(log_rows())
    for path in ("roll.csv", "record.csv", "record.xlsx", "record.txt"):
        assert client.get(f"/audit/cycles/9999/{path}").status_code == 404, path
    assert len(log_rows()) == before


def test_a_client_gone_midway_is_not_logged(closed, app):
    """The server closes the body when the client goes away: the download is not in the log."""
    before = len(log_rows())
    logged = DownloadLog("audit.download_roll", closed.auditor.id, closed.a.community.id, {"cycle": 1})
    with app.test_request_context():
        body = downloads._served(iter(["a", "b", "c"]), logged)
        assert next(body) == b"a"
        body.close()
    assert len(log_rows()) == before


def test_the_last_chunk_waits_for_the_entry(closed, app, monkeypatch):
    """No complete file leaves without its entry: when the entry cannot be written, the last chunk
    (a record's END row) is never sent."""
    def log_fails(*args, **kwargs):
        raise RuntimeError("the log cannot be written")

    monkeypatch.setattr(downloads, "log_action", log_fails)
    logged = DownloadLog("audit.download_log", closed.auditor.id)
    sent = []
    with app.test_request_context(), pytest.raises(RuntimeError, match="cannot be written"):
        for chunk in downloads._served(iter(["a", "b", "END"]), logged):
            sent.append(chunk)
    assert sent == [b"a", b"b"]
    monkeypatch.undo()
    with app.test_request_context():
        assert list(downloads._served(iter(["a", "b", "END"]), logged)) == [b"a", b"b", b"END"]
    assert log_rows()[-1].action == "audit.download_log"


# --- the test client fails where the server fails ----------------------------------------------------


def test_the_client_reads_the_body_after_the_request_ended(closed, client, auth, app):
    """The view's session is closed before the body runs (as on the server): a body still holding
    one of the view's ORM objects fails here, where it used to pass and answer 500 on the server."""
    @app.get("/test/stale-body")
    def stale_body():
        cycle = db.session.get(Cycle, closed.a.cycle.id)
        db.session.commit()  # as `@transactional` does: the cycle is expired, to be read again
        return Response(stream_with_context(str(cycle.year) for _ in range(1)))

    auth.login("auditor")
    with pytest.raises(DetachedInstanceError):
        client.get("/test/stale-body")


# --- a real server -------------------------------------------------------------------------------------


def signed_in(base: str, username: str):
    """A urllib opener signed in through the real login form (with its CSRF token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": TEST_PASSWORD, "csrf_token": token})
    with opener.open(base + "/login", data=data.encode(), timeout=30) as answer:
        assert "/login" not in answer.url, "the sign-in failed"
    return opener


@pytest.mark.server
def test_downloads_on_a_real_server(closed, live_server):
    """The voter roll and the record in each format, from `voting serve` (gunicorn): each answers
    200 with its rows, and each is logged once."""
    base = live_server(workers=2)
    opener = signed_in(base, "auditor")
    cycle = closed.a.cycle.id
    receipt = first_receipt(cycle)
    expected = []
    for path, content_type in [("roll.csv", CSV), *((f"record.{f}", t) for f, t in RECORD)]:
        before = len(log_rows())
        with opener.open(f"{base}/audit/cycles/{cycle}/{path}", timeout=60) as response:
            body = response.read()
            assert response.status == 200 and response.headers["Content-Type"] == content_type, path
        if path == "roll.csv":
            assert body.decode("utf-8-sig").count(",online") == 4 and body.decode().count(",assisted") == 2
        elif path == "record.xlsx":
            assert receipt in xlsx_cells(body) and zipfile.is_zipfile(io.BytesIO(body))
        elif path == "record.pb":
            assert len(body.decode().split("VOTES\n")[1].splitlines()) == 1 + 6
        else:
            assert receipt in body.decode()
        action = "audit.download_roll" if path == "roll.csv" else "audit.download_record"
        assert [(e.actor, e.action) for e in log_rows()[before:]] == [("auditor", action)], path
        expected.append(action)
    assert [e.action for e in log_rows() if e.action.startswith("audit.download")] == expected
    assert first_bad_row([as_row(e) for e in entries(db.session)]) is None
    log = opener.open(f"{base}/audit/log.csv", timeout=60).read().decode("utf-8-sig")
    assert log.count("audit.download_record") == 4 and "audit.download_roll" in log
    assert log_rows()[-1].action == "audit.download_log"

