"""The public notice (公示): the result stands for the cycle's notice period; residents of the
community object, the staff answer in public, everyone reads both; implementation starts only after
the period with every objection answered. Bad input is refused with a message and stores nothing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from conftest import TEST_PASSWORD, cast

from voting.audit.models import ActionLogEntry
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.results.models import Objection

EN = {"Accept-Language": "en"}


@pytest.fixture()
def published(world, client, auth):
    """ca's vote: one ballot, closed a moment ago, its result published (the notice period runs)."""
    cycle = world.a.cycle
    cast(client, auth, "resident-ca-1", cycle.id, [world.a.projects[0].id])
    cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/api/v1/cycles/{cycle.id}/results").status_code == 200
    return world


def back_date(cycle_id: int, days: float) -> None:
    """Move the publication `days` back in time (the clock runs forward in the test)."""
    db.session.rollback()
    cycle = db.session.get(Cycle, cycle_id)
    cycle.results_published_at -= timedelta(days=days)
    db.session.commit()


def objections_stored() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Objection))


def logged(action: str) -> list[dict]:
    db.session.rollback()
    return [json.loads(e.detail) for e in db.session.scalars(
        select(ActionLogEntry).where(ActionLogEntry.action == action).order_by(ActionLogEntry.seq))]


def error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def move(client, auth, cycle_id, phase):
    return client.post(f"/api/v1/cycles/{cycle_id}/phase", json={"phase": phase}, headers=auth.headers("staff-ca"))


def test_an_objection_is_filed_answered_and_public(published, client, auth):
    cycle = published.a.cycle.id
    filed = client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "  项目一的票数不对，请复核。 "},
                        headers=auth.headers("resident-ca-2"))
    assert filed.status_code == 201, filed.get_json()
    body = filed.get_json()
    assert body["text"] == "项目一的票数不对，请复核。" and body["answer"] is None and body["created_at"].endswith("Z")
    public = client.get(f"/api/v1/cycles/{cycle}/objections").get_json()  # nobody signed in
    assert [o["id"] for o in public["objections"]] == [body["id"]]
    assert public["notice"]["days"] == 7 and public["notice"]["open"] is True
    assert "resident" not in json.dumps(public)  # who objected is not published

    answered = client.post(f"/api/v1/objections/{body['id']}/answer", json={"text": "已复核：票数无误。"},
                           headers=auth.headers("staff-ca"))
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["answer"]["text"] == "已复核：票数无误。"
    public = client.get(f"/api/v1/cycles/{cycle}/objections").get_json()
    assert public["objections"][0]["answer"]["text"] == "已复核：票数无误。"
    again = client.post(f"/api/v1/objections/{body['id']}/answer", json={"text": "改一下"},
                        headers=auth.headers("staff-ca"))
    assert error(again) == (409, "already_answered")
    assert [(d["objection"], d["text"]) for d in logged("results.objection")] == [(body["id"], body["text"])]
    assert [d["text"] for d in logged("results.objection_answer")] == ["已复核：票数无误。"]
    results = client.get(f"/api/v1/cycles/{cycle}/results").get_json()
    assert results["notice"]["days"] == 7 and results["notice"]["ends_at"] == public["notice"]["ends_at"]


@pytest.mark.parametrize("text, status, code", [
    (None, 422, "missing_text"),
    ("", 422, "missing_text"),
    ("   ", 422, "missing_text"),
    (5, 422, "not_text"),
    ("异" * 5000, 422, "too_long"),
    ("异" * 2001, 422, "too_long"),
])
def test_bad_objections_store_nothing(published, client, auth, text, status, code):
    response = client.post(f"/api/v1/cycles/{published.a.cycle.id}/objections", json={"text": text},
                           headers=auth.headers("resident-ca-1"))
    assert error(response) == (status, code) and response.get_json()["error"]["message"]
    assert objections_stored() == 0 and logged("results.objection") == []


def test_objections_only_from_residents_of_the_community(published, client, auth):
    cycle = published.a.cycle.id
    for username, expected in [("resident-cb-1", (403, "not_a_resident_here")), ("staff-ca", (403, "forbidden")),
                               ("grid-ca-1", (403, "forbidden"))]:
        response = client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "不同意"},
                               headers=auth.headers(username))
        assert error(response) == expected, username
        assert response.get_json()["error"]["message"]
    assert client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "不同意"}).status_code == 401
    resident = published.a.residents[1].resident
    resident.status = "moved"  # moved away: no longer a resident here
    db.session.commit()
    response = client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "不同意"},
                           headers=auth.headers("resident-ca-2"))
    assert error(response) == (403, "not_a_resident_here")
    assert objections_stored() == 0


def test_objections_only_during_the_notice_period(published, client, auth):
    cycle = published.a.cycle.id
    back_date(cycle, 7)
    response = client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "太晚了吗？"},
                           headers=auth.headers("resident-ca-1"))
    assert error(response) == (409, "notice_period_over") and "ended" in client.post(
        f"/api/v1/cycles/{cycle}/objections", json={"text": "太晚了吗？"},
        headers=auth.headers("resident-ca-1") | EN).get_json()["error"]["message"]
    assert client.get(f"/api/v1/cycles/{cycle}/objections").get_json()["notice"]["open"] is False
    assert objections_stored() == 0


def test_no_objection_before_the_result(world, client, auth):
    response = client.post(f"/api/v1/cycles/{world.a.cycle.id}/objections", json={"text": "还在投票"},
                           headers=auth.headers("resident-ca-1"))
    assert error(response) == (409, "results_not_ready")
    assert objections_stored() == 0


def test_answers_only_from_the_community_staff(published, client, auth):
    filed = client.post(f"/api/v1/cycles/{published.a.cycle.id}/objections", json={"text": "请公开预算明细"},
                        headers=auth.headers("resident-ca-1")).get_json()
    path = f"/api/v1/objections/{filed['id']}/answer"
    assert error(client.post(path, json={"text": "答复"}, headers=auth.headers("staff-cb"))) == (
        403, "not_community_staff")
    assert error(client.post(path, json={"text": "答复"}, headers=auth.headers("admin"))) == (403, "forbidden")
    assert error(client.post(path, json={"text": "答复"}, headers=auth.headers("resident-ca-1"))) == (
        403, "forbidden")
    assert error(client.post(path, json={"text": " "}, headers=auth.headers("staff-ca"))) == (422, "missing_text")
    assert error(client.post(path, json={"text": "答" * 2001}, headers=auth.headers("staff-ca"))) == (
        422, "too_long")
    assert error(client.post("/api/v1/objections/999999/answer", json={"text": "答复"},
                             headers=auth.headers("staff-ca"))) == (404, "unknown_objection")
    db.session.rollback()
    assert db.session.get(Objection, filed["id"]).answer is None and logged("results.objection_answer") == []


def test_implementation_waits_for_the_period_and_the_answers(published, client, auth):
    cycle = published.a.cycle.id
    refused = move(client, auth, cycle, "implementation")
    assert error(refused) == (409, "notice_period")
    english = client.post(f"/api/v1/cycles/{cycle}/phase", json={"phase": "implementation"},
                          headers=auth.headers("staff-ca") | EN).get_json()["error"]["message"]
    assert "public notice until" in english
    filed = client.post(f"/api/v1/cycles/{cycle}/objections", json={"text": "请解释第二个项目为何落选"},
                        headers=auth.headers("resident-ca-3")).get_json()
    back_date(cycle, 7)
    assert error(move(client, auth, cycle, "implementation")) == (409, "objections_unanswered")
    db.session.rollback()
    assert db.session.get(Cycle, cycle).phase == "results"  # a refusal changes nothing
    assert client.post(f"/api/v1/objections/{filed['id']}/answer", json={"text": "按得票数与资金余额依次入选。"},
                       headers=auth.headers("staff-ca")).status_code == 200  # answered after the period too
    moved = move(client, auth, cycle, "implementation")
    assert moved.status_code == 200 and moved.get_json()["phase"] == "implementation"


def test_the_period_is_a_rule_frozen_with_the_others(world, factory, client, auth):
    cycle = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    rules = {"method": "approval", "min_choices": 1, "max_choices": 3, "outcome_rule": "greedy"}
    path, staff = f"/api/v1/cycles/{cycle.id}/rules", auth.headers("staff-ca")
    assert client.put(path, json=rules, headers=staff).get_json()["rules"]["notice_days"] == 7  # the default
    assert client.put(path, json=rules | {"notice_days": 10}, headers=staff).get_json()["rules"]["notice_days"] == 10
    for bad, code in [(4, "out_of_range"), (31, "out_of_range"), ("a week", "not_a_number"), (7.5, "not_a_number")]:
        assert error(client.put(path, json=rules | {"notice_days": bad}, headers=staff)) == (422, code), bad
    assert client.get(f"/api/v1/cycles/{cycle.id}").get_json()["rules"]["notice_days"] == 10
    db.session.rollback()
    db.session.get(Cycle, cycle.id).rules_frozen_at = utcnow()  # a ballot was cast
    db.session.commit()
    assert error(client.put(path, json=rules | {"notice_days": 20}, headers=staff)) == (409, "rules_frozen")


def test_a_longer_period_holds_implementation_longer(published, client, auth):
    cycle = published.a.cycle
    cycle.notice_days = 10
    db.session.commit()
    back_date(cycle.id, 8)
    assert error(move(client, auth, cycle.id, "implementation")) == (409, "notice_period")
    back_date(cycle.id, 2)
    assert move(client, auth, cycle.id, "implementation").status_code == 200


def test_objections_and_answers_on_the_pages(published, client, auth):
    cycle = published.a.cycle.id
    auth.login("resident-ca-1")
    page = client.get(f"/cycles/{cycle}/results", headers=EN).get_data(as_text=True)
    assert "Publish my objection" in page and "No objections so far." in page
    refused = client.post(f"/cycles/{cycle}/objections", data={"text": "  "}, headers=EN)
    assert refused.status_code == 422 and "The objection is required." in refused.get_data(as_text=True)
    too_long = client.post(f"/cycles/{cycle}/objections", data={"text": "长" * 5000}, headers=EN)
    assert too_long.status_code == 422 and "at most 2000 characters" in too_long.get_data(as_text=True)
    assert objections_stored() == 0
    filed = client.post(f"/cycles/{cycle}/objections", data={"text": "施工位置不合理"})
    assert filed.status_code == 302 and "#objection-" in filed.headers["Location"]
    objection = db.session.scalar(select(Objection))
    auth.logout()

    auth.login("staff-cb")
    assert client.post(f"/objections/{objection.id}/answer", data={f"o{objection.id}-text": "答复"}).status_code == 403
    auth.logout()
    auth.login("staff-ca")
    page = client.get(f"/cycles/{cycle}/results", headers=EN).get_data(as_text=True)
    assert "施工位置不合理" in page and "Publish the answer" in page
    empty = client.post(f"/objections/{objection.id}/answer", data={f"o{objection.id}-text": ""}, headers=EN)
    assert empty.status_code == 422 and "The answer is required." in empty.get_data(as_text=True)
    answered = client.post(f"/objections/{objection.id}/answer", data={f"o{objection.id}-text": "已调整到小区北门"})
    assert answered.status_code == 302
    auth.logout()

    page = client.get(f"/cycles/{cycle}/results").get_data(as_text=True)  # the public, in Chinese
    assert "施工位置不合理" in page and "已调整到小区北门" in page and "/objections" not in page  # no form
    auth.login("resident-cb-1")  # another community's resident is offered no form
    assert "Publish my objection" not in client.get(f"/cycles/{cycle}/results", headers=EN).get_data(as_text=True)


def test_the_printed_notice_says_the_period_and_how_to_object(published, client):
    cycle = published.a.cycle
    db.session.refresh(cycle)
    page = client.get(f"/cycles/{cycle.id}/results/notice", headers=EN).get_data(as_text=True)
    assert "Public notice period" in page and "on public notice for 7 days" in page
    assert "How to object" in page and "Published on" in page and "notice-seal" in page
    assert "Place for the seal of the residents' committee" in page
    chinese = client.get(f"/cycles/{cycle.id}/results/notice").get_data(as_text=True)
    assert "notice-seal" in chinese


@pytest.mark.server
def test_the_notice_on_a_real_server(published, live_server):
    """On `voting serve`: an objection is filed, answered and public, and implementation waits for
    the period."""
    base = live_server(workers=2)
    cycle = published.a.cycle.id

    def call(method, path, body=None, username=None):
        headers = {"Content-Type": "application/json"}
        if username:
            token = call("POST", "/api/v1/auth/token", {"username": username, "password": TEST_PASSWORD})[1]
            headers["Authorization"] = f"Bearer {token['token']}"
        request = urllib.request.Request(base + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    status, filed = call("POST", f"/api/v1/cycles/{cycle}/objections", {"text": "请复核"}, "resident-ca-2")
    assert status == 201, filed
    assert call("POST", f"/api/v1/cycles/{cycle}/objections", {"text": ""}, "resident-ca-2")[0] == 422
    assert call("POST", f"/api/v1/objections/{filed['id']}/answer", {"text": "x"}, "staff-cb")[0] == 403
    assert call("POST", f"/api/v1/objections/{filed['id']}/answer", {"text": "已复核"}, "staff-ca")[0] == 200
    status, public = call("GET", f"/api/v1/cycles/{cycle}/objections")
    assert status == 200 and public["objections"][0]["answer"]["text"] == "已复核"
    status, refused = call("POST", f"/api/v1/cycles/{cycle}/phase", {"phase": "implementation"}, "staff-ca")
    assert (status, refused["error"]["code"]) == (409, "notice_period")
    back_date(cycle, 7)
    status, moved = call("POST", f"/api/v1/cycles/{cycle}/phase", {"phase": "implementation"}, "staff-ca")
    assert status == 200 and moved["phase"] == "implementation"
    assert [d["objection"] for d in logged("results.objection")] == [filed["id"]]


# --- The API's document and its refusals ------------------------------------------------------------

def _schema(document, reference):
    return document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


def _json(operation, part):
    return part["content"]["application/json"]["schema"] if part else operation


def test_the_document_gives_the_result_and_objection_routes_bodies_and_answers(client):
    document = client.get("/api/v1/openapi.json").get_json()
    results = document["paths"]["/api/v1/cycles/{cycle_id}/results"]["get"]
    result = _schema(document, _json(results, results["responses"]["200"]))
    assert {"outcome_rule", "ballots_counted", "turnout", "selected", "projects", "notice"} <= set(result["required"])
    assert "mes+greedy" in result["properties"]["outcome_rule"]["enum"] and "409" in results["responses"]
    row = document["components"]["schemas"]["ProjectOutcome"]
    assert {"id", "votes", "cost", "selected", "reason", "reason_code"} == set(row["required"])
    filing = document["paths"]["/api/v1/cycles/{cycle_id}/objections"]["post"]
    body = _schema(document, _json(filing, filing["requestBody"]))
    assert body["required"] == ["text"] and body["properties"]["text"]["maxLength"] == 2000 and body["examples"]
    assert "201" in filing["responses"] and "409" in filing["responses"] and filing["security"]
    filed = _schema(document, _json(filing, filing["responses"]["201"]))
    assert {"id", "cycle", "text", "created_at", "answer"} == set(filed["required"])
    answering = document["paths"]["/api/v1/objections/{objection_id}/answer"]["post"]
    assert _schema(document, _json(answering, answering["requestBody"]))["required"] == ["text"]
    listing = document["paths"]["/api/v1/cycles/{cycle_id}/objections"]["get"]
    assert "security" not in listing
    assert {"cycle", "notice", "objections"} == set(_schema(document, _json(listing, listing["responses"]["200"]))
                                                   ["required"])


def test_a_refused_objection_names_each_wrong_field(published, client, auth):
    response = client.post(f"/api/v1/cycles/{published.a.cycle.id}/objections", json={"text": " ", "name": "x"},
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 422
    assert {f["field"]: f["code"] for f in response.get_json()["error"]["fields"]} == {
        "text": "missing_text", "name": "unknown_field"}
    assert objections_stored() == 0
