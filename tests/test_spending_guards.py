"""Spending within what residents chose (a project's voted cost, committed money, the admin's
approvals) and corrections by reversal, never by deletion (issue 18)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from voting.audit.models import ActionLogEntry
from voting.extensions import db
from voting.tracking.models import FundApproval, SpendingEntry
from voting.tracking.progress import local_today

from test_tracking import EN, build_implementation, pay, rows


@pytest.fixture()
def built(world, factory):
    return build_implementation(factory, world)


def reverse(client, headers, project, entry_id, reason="金额录错，应为 1,800 元"):
    body = {} if reason is None else {"reason": reason}
    return client.post(f"/api/v1/projects/{project.id}/spending/{entry_id}/reversal", json=body, headers=headers)


def table_state():
    """What a refusal must leave as it was: every entry and approval, and the action log's length."""
    return (db.session.execute(select(SpendingEntry.id, SpendingEntry.amount_fen, SpendingEntry.reverses_id)
                               .order_by(SpendingEntry.id)).all(),
            rows(FundApproval), db.session.scalar(select(func.count()).select_from(ActionLogEntry)))


# --- A project's voted cost, committed money -------------------------------------------------------

def test_a_payment_past_the_voted_cost_needs_an_approval_for_that_project(built, client, auth):
    staff, admin = auth.headers("staff-ca"), auth.headers("admin")
    assert pay(client, staff, built.started, 50_000).status_code == 201
    before = table_state()
    refused = pay(client, staff | EN, built.started, "10000.01")
    body = refused.get_json()["error"]
    assert refused.status_code == 422 and body["code"] == "over_cost"
    assert "ca道路修补" in body["message"] and "60,000" in body["message"]
    assert table_state() == before
    # An approval for another project, or for the year, does not lift this project's limit.
    assert client.post("/api/v1/ledger/ca/2025/approvals", headers=admin,
                       json={"amount": "1000", "reason": "另一项目", "project": built.funded.id}).status_code == 201
    assert client.post("/api/v1/ledger/ca/2025/approvals", headers=admin,
                       json={"amount": "1000", "reason": "年度追加"}).status_code == 201
    assert pay(client, staff, built.started, "10000.01").get_json()["error"]["code"] == "over_cost"
    assert client.post("/api/v1/ledger/ca/2025/approvals", headers=admin,
                       json={"amount": "0.01", "reason": "尾差", "project": built.started.id}).status_code == 201
    assert pay(client, staff, built.started, "10000.01").status_code == 201


def test_committed_money_counts_in_the_year(built, client, auth):
    """Fund 200,000; allocated 190,000. Accepting a project settles it: what it did not use is free
    again, and a later payment to it takes from the free money, never from the others' commitments."""
    staff = auth.headers("staff-ca")
    assert pay(client, staff, built.done, 20_000).status_code == 201
    # Accept the completed project: 30,000 of its cost is released (10,000 + 30,000 free).
    accepted = client.post(f"/api/v1/projects/{built.done.id}/status", headers=staff, json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表"})
    assert accepted.status_code == 200
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    assert ledger["committed"] == "140000.00" and ledger["remaining"] == "40000.00"
    assert pay(client, staff, built.done, 30_000).status_code == 201      # back to its voted cost
    # The year is full now: spent 50,000, committed 140,000, free 10,000 by the rule above.
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    assert ledger["remaining"] == "10000.00"


def test_an_accepted_project_cannot_take_the_others_commitments(built, client, auth):
    staff, admin = auth.headers("staff-ca"), auth.headers("admin")
    client.post(f"/api/v1/projects/{built.done.id}/status", headers=staff, json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表"})
    # Fund 200,000: committed 140,000 to the other two; the accepted one may be approved beyond its
    # cost (its commitment is settled), but paid beyond the year only with an approval for the year.
    assert client.post("/api/v1/ledger/ca/2025/approvals", headers=admin, json={
        "amount": "20000", "reason": "追加配套", "project": built.done.id}).status_code == 201
    assert pay(client, staff, built.done, 60_000).status_code == 201
    before = table_state()
    refused = pay(client, staff | EN, built.done, "0.01")
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "over_fund"
    assert table_state() == before
    assert client.get("/api/v1/ledger/ca/2025").get_json()["remaining"] == "0.00"


def test_the_ledger_never_goes_below_zero_without_an_approval(built, client, auth):
    """Tried as the issue's reporter did: pay one project far past its cost; then check the ledger."""
    staff = auth.headers("staff-ca")
    for amount in (60_000, 60_000, 12_650):
        pay(client, staff, built.started, amount)
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    assert ledger["spent"] == "60000.00" and ledger["remaining"] == "10000.00"
    page = client.get("/tracking/ledger/ca/2025", headers=EN).get_data(as_text=True)
    assert "Below zero" not in page


def test_a_ledger_already_below_zero_refuses_what_adds_to_it(built, client, auth):
    """Data recorded before these rules (no approval covers it): nothing that adds to it passes, and
    the page says so; a payment within what is committed still does."""
    db.session.add(SpendingEntry(project_id=built.started.id, spent_on=local_today(), amount_fen=80_000_00,
                                 payee="旧数据"))
    db.session.commit()
    staff = auth.headers("staff-ca")
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    assert ledger["remaining"] == "-10000.00"
    page = client.get("/tracking/ledger/ca/2025", headers=EN).get_data(as_text=True)
    assert "more than the district admin approved" in page
    assert pay(client, staff, built.funded, 80_000).status_code == 201        # within its commitment
    assert client.get("/api/v1/ledger/ca/2025").get_json()["remaining"] == "-10000.00"


# --- Reversals -------------------------------------------------------------------------------------

def test_a_wrong_payment_is_reversed_beside_it_and_the_ledger_adds_up(built, client, auth):
    staff = auth.headers("staff-ca")
    wrong = pay(client, staff, built.started, 18_000, note="预付款").get_json()
    right = pay(client, staff, built.started, 1_800, note="预付款").get_json()
    reversed_ = reverse(client, staff, built.started, wrong["id"])
    assert reversed_.status_code == 201
    body = reversed_.get_json()
    assert body | {"id": 0} == {"id": 0, "date": local_today().isoformat(), "amount": "-18000.00",
                                "payee": "湖南某建设公司", "note": "金额录错，应为 1,800 元", "approval": None,
                                "reverses": wrong["id"], "reversed_by": None}
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    assert [(e["id"], e["amount"], e["reverses"], e["reversed_by"]) for e in ledger["spending"]] == [
        (wrong["id"], "18000.00", None, body["id"]), (body["id"], "-18000.00", wrong["id"], None),
        (right["id"], "1800.00", None, None)]
    assert ledger["spent"] == "1800.00" and ledger["remaining"] == "10000.00"
    assert sum(int(e["amount"].replace(".", "")) for e in ledger["spending"]) == 180_000
    # Nothing was deleted: the wrong payment is still there, marked.
    assert db.session.get(SpendingEntry, wrong["id"]).amount_fen == 18_000_00
    logged = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "tracking.reversal"))
    assert logged.actor == "staff-ca" and "金额录错" in logged.detail and f'"reverses":{wrong["id"]}' in logged.detail
    detail = client.get(f"/api/v1/projects/{built.started.id}").get_json()
    assert detail["spent"] == "1800.00" and detail["spending"][1]["reverses"] == wrong["id"]
    # Shown side by side on the pages.
    for url in ("/tracking/ledger/ca/2025", f"/tracking/projects/{built.started.id}"):
        page = client.get(url, headers=EN).get_data(as_text=True)
        first, second = page.index(f'id="entry-{wrong["id"]}"'), page.index(f'id="entry-{body["id"]}"')
        assert first < second < page.index(f'id="entry-{right["id"]}"')
        assert "reversed" in page[first:second] and "−¥18,000" in page and "金额录错" in page
    # The money is free again for the right payment.
    assert pay(client, staff, built.started, 58_200).status_code == 201


@pytest.mark.parametrize("case, status, code", [
    ("twice", 409, "already_reversed"),
    ("a_reversal", 409, "is_reversal"),
    ("no_reason", 422, "missing_reason"),
    ("blank_reason", 422, "missing_reason"),
    ("long_reason", 422, "too_long"),
    ("other_project", 404, "unknown_entry"),
    ("no_such_entry", 404, "unknown_entry"),
    ("other_community", 403, None),
    ("closed", 409, "cycle_closed"),
])
def test_bad_reversals_change_nothing(built, client, auth, case, status, code):
    staff = auth.headers("staff-ca")
    payment = pay(client, staff, built.started, 1_000).get_json()["id"]
    other = pay(client, staff, built.done, 1_000).get_json()["id"]
    first = reverse(client, staff, built.started, payment).get_json()["id"]
    target, project, headers, reason = payment, built.started, staff, "录错"
    if case == "twice":
        pass
    elif case == "a_reversal":
        target = first
    elif case == "no_reason":
        target, reason = other, None
    elif case == "blank_reason":
        target, reason = other, "   "
    elif case == "long_reason":
        target, reason = other, "长" * 501
    elif case == "other_project":
        target = other                      # built.done's payment, through built.started's URL
    elif case == "no_such_entry":
        target = 999_999
    elif case == "other_community":
        target, headers = other, auth.headers("staff-cb")
        project = built.done
    elif case == "closed":
        target, project = other, built.done
        built.cycle.phase = "closed"
        db.session.commit()
    before = table_state()
    response = reverse(client, headers, project, target, reason)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["message"] and (code is None or error["code"] == code)
    assert table_state() == before


def test_the_database_reverses_a_payment_once(built, world):
    payment = SpendingEntry(project_id=built.started.id, spent_on=local_today(), amount_fen=500, payee="某公司")
    db.session.add(payment)
    db.session.flush()
    for _ in range(2):
        db.session.add(SpendingEntry(project_id=built.started.id, spent_on=local_today(), amount_fen=-500,
                                     payee="某公司", note="录错", reverses_id=payment.id))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("amount, reverses, note", [(-500, None, ""), (500, "payment", "录错"), (-500, "payment", "")])
def test_the_database_refuses_a_negative_payment_or_a_reversal_without_reason(built, amount, reverses, note):
    payment = SpendingEntry(project_id=built.started.id, spent_on=local_today(), amount_fen=500, payee="某公司")
    db.session.add(payment)
    db.session.flush()
    db.session.add(SpendingEntry(project_id=built.started.id, spent_on=local_today(), amount_fen=amount,
                                 payee="某公司", note=note, reverses_id=payment.id if reverses else None))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_reversal_page(built, client, auth):
    staff = auth.headers("staff-ca")
    payment = pay(client, staff, built.started, 2_000).get_json()["id"]
    auth.login("staff-ca")
    manage = f"/tracking/projects/{built.started.id}/manage"
    page = client.get(manage, headers=EN).get_data(as_text=True)
    assert "Reverse this payment" in page and f'id="reason-{payment}"' in page
    url = f"/tracking/projects/{built.started.id}/spending/{payment}/reversal"
    empty = client.post(url, data={"reason": " "}, headers=EN)
    text = empty.get_data(as_text=True)
    assert empty.status_code == 422 and "Nothing was saved" in text and f'href="#entry-{payment}"' in text
    assert f'aria-describedby="reason-{payment}-error"' in text
    assert rows(SpendingEntry) == {"spending_entry": 1}
    done = client.post(url, data={"reason": "重复录入"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"#entry-{payment}")
    page = client.get(manage, headers=EN).get_data(as_text=True)
    assert "重复录入" in page and "Reverse this payment" not in page
    again = client.post(url, data={"reason": "再来一次"}, headers=EN)
    assert again.status_code == 409 and "reversed already" in again.get_data(as_text=True)
    assert rows(SpendingEntry) == {"spending_entry": 2}


# --- On a live server ------------------------------------------------------------------------------

def _call(base, method, path, token, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                              "Accept-Language": "en"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.server
def test_on_a_live_server_over_cost_is_refused_and_a_reversal_adds_up(built, auth, live_server):
    base = live_server(workers=2)
    staff, admin = auth.token("staff-ca"), auth.token("admin")
    today = local_today().isoformat()
    path = f"/api/v1/projects/{built.started.id}/spending"

    def payment(amount):
        return _call(base, "POST", path, staff, {"date": today, "amount": amount, "payee": "某公司"})

    assert payment("60000")[0] == 201
    status, body = payment("1000")
    assert status == 422 and body["error"]["code"] == "over_cost"
    status, wrong = payment("0.01")
    assert status == 422
    # A wrong payment on another project, reversed; the ledger adds up.
    status, wrong = _call(base, "POST", f"/api/v1/projects/{built.funded.id}/spending", staff,
                          {"date": today, "amount": "8000", "payee": "某公司"})
    assert status == 201
    status, reversal = _call(base, "POST", f"/api/v1/projects/{built.funded.id}/spending/{wrong['id']}/reversal",
                             staff, {"reason": "付错项目"})
    assert status == 201 and reversal["amount"] == "-8000.00"
    assert _call(base, "POST", f"/api/v1/projects/{built.funded.id}/spending/{wrong['id']}/reversal",
                 staff, {"reason": "再次"})[0] == 409
    status, ledger = _call(base, "GET", "/api/v1/ledger/ca/2025", staff)
    assert ledger["spent"] == "60000.00" and ledger["remaining"] == "10000.00"
    spent = sum(int(e["amount"].replace(".", "")) for e in ledger["spending"])
    assert spent == 60_000_00
    # With the admin's approval for the project (within the 10,000 free), the payment passes.
    assert _call(base, "POST", "/api/v1/ledger/ca/2025/approvals", admin,
                 {"amount": "1000", "reason": "材料涨价", "project": built.started.id})[0] == 201
    assert payment("1000")[0] == 201
    db.session.rollback()
    assert db.session.scalar(select(func.sum(SpendingEntry.amount_fen))) == 61_000_00

