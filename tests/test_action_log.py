"""The action log: append-only, hash-chained, viewable and downloadable by auditors (logged)."""
import csv
import io

import pytest

from voting.audit.chainlog import first_bad_row
from voting.audit.services import as_row, entries, log_action
from voting.extensions import db


def rows():
    return [as_row(e) for e in entries(db.session)]


def test_chain_links_every_entry(world):
    for n in range(5):
        log_action(db.session, world.a.staff, "test.action", world.a.community, n=n)
    db.session.commit()
    logged = rows()
    assert [r["seq"] for r in logged] == [1, 2, 3, 4, 5]
    assert logged[0]["community"] == "ca" and logged[0]["actor"] == "staff-ca"
    assert first_bad_row(logged) is None


@pytest.mark.parametrize("tamper, first_bad", [("change", 3), ("delete", 3), ("insert", 3), ("duplicate", 4),
                                               ("swap", 2)])
def test_tampering_is_found(world, tamper, first_bad):
    for n in range(5):
        log_action(db.session, world.a.staff, "test.action", world.a.community, n=n)
    logged = rows()
    if tamper == "change":
        logged[2]["detail"] = logged[2]["detail"].replace("2", "7")
    elif tamper == "delete":
        del logged[2]
    elif tamper == "insert":
        logged.insert(2, dict(logged[2], actor="forger"))
    elif tamper == "duplicate":
        logged.insert(2, dict(logged[2]))  # the copy passes; the original after it no longer does
    else:
        logged[1], logged[2] = logged[2], logged[1]
    assert first_bad_row(logged) == first_bad


def test_auditor_views_and_downloads_the_log_and_both_are_logged(world, client, auth):
    log_action(db.session, world.a.staff, "test.action", world.a.community)
    auth.login("auditor")
    page = client.get("/audit/log")
    assert page.status_code == 200 and "test.action" in page.get_data(as_text=True)
    download = client.get("/audit/log.csv")
    assert download.status_code == 200 and download.data.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["action"] for r in table] == ["test.action", "audit.view_log"]  # logged once served
    again = client.get("/audit/log.csv").get_data(as_text=True).lstrip("\ufeff")
    table = list(csv.DictReader(io.StringIO(again)))
    assert [r["action"] for r in table] == ["test.action", "audit.view_log", "audit.download_log"]
    assert first_bad_row(table) is None


@pytest.mark.parametrize("username", ["resident-ca-1", "staff-ca", "grid-ca-1"])
def test_others_may_not_read_the_log(world, client, auth, username):
    auth.login(username)
    assert client.get("/audit/log").status_code == 403
    assert client.get("/audit/log.csv").status_code == 403
