"""The tracking and district routes' request and answer models (issue 19): what the OpenAPI document
tells a client, and how a refused request is answered (422 with every wrong field named)."""
from __future__ import annotations

import io

import pytest

from voting.api.schema import MAX_ID
from voting.tracking.models import FundApproval, Milestone, ProjectRating, SpendingEntry

from test_tracking import EN, build_implementation, jpeg_bytes, local_today, rows


@pytest.fixture()
def built(world, factory):
    return build_implementation(factory, world)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def schema_of(document: dict, reference: dict) -> dict:
    """A schema, its `$ref` followed."""
    while "$ref" in reference:
        reference = document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]
    return reference


def body_schema(document, path, method="post", media="application/json") -> dict:
    return schema_of(document, document["paths"][path][method]["requestBody"]["content"][media]["schema"])


def answer_schema(document, path, method, status) -> dict:
    return schema_of(document, document["paths"][path][method]["responses"][status]["content"]["application/json"]
                     ["schema"])


def fields(response) -> dict:
    return {f["field"]: f["code"] for f in response.get_json()["error"]["fields"]}


# --- The document ----------------------------------------------------------------------------------

def test_the_document_describes_the_tracking_requests(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    project = "/api/v1/projects/{project_id}"

    query = {p["name"]: p for p in doc["paths"]["/api/v1/projects"]["get"]["parameters"] if p["in"] == "query"}
    assert set(query) == {"status", "community", "year", "page"} and not any(p["required"] for p in query.values())
    assert query["status"]["schema"]["enum"] == ["funded", "in_progress", "completed", "accepted"]
    assert (query["page"]["schema"]["minimum"], query["page"]["schema"]["maximum"]) == (1, 1_000_000)
    assert query["year"]["schema"]["type"] == "integer"

    status = body_schema(doc, project + "/status")
    assert status["required"] == ["status"] and status["additionalProperties"] is False
    assert status["properties"]["status"]["enum"] == ["in_progress", "completed", "accepted"]
    assert status["properties"]["accepted_on"]["format"] == "date"
    assert status["examples"]

    payment = body_schema(doc, project + "/spending")
    assert payment["required"] == ["date", "amount", "payee"]
    amount = payment["properties"]["amount"]
    assert amount["type"] == "string" and amount["pattern"].startswith("^") and "e" not in amount["pattern"]
    assert payment["properties"]["payee"]["maxLength"] == 120

    milestone = body_schema(doc, project + "/milestones")
    assert milestone["required"] == ["date", "text"]
    form = body_schema(doc, project + "/milestones", media="multipart/form-data")
    assert form["required"] == ["date", "text"]
    assert form["properties"]["photos"]["items"]["format"] == "binary" and form["properties"]["photos"]["maxItems"] == 6

    rating = body_schema(doc, project + "/rating")
    assert rating["required"] == ["score"]
    assert (rating["properties"]["score"]["minimum"], rating["properties"]["score"]["maximum"]) == (1, 5)
    assert body_schema(doc, project + "/spending/{entry_id}/reversal")["required"] == ["reason"]
    assert body_schema(doc, project + "/end")["required"] == ["reason"]
    approval = body_schema(doc, "/api/v1/ledger/{code}/{year}/approvals")
    assert approval["required"] == ["amount", "reason"] and "project" in approval["properties"]
    assert "requestBody" not in doc["paths"][project + "/carry-over"]["post"]


def test_the_document_describes_the_tracking_answers(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    project = "/api/v1/projects/{project_id}"

    listed = answer_schema(doc, "/api/v1/projects", "get", "200")
    item = schema_of(doc, listed["properties"]["items"]["items"])
    assert set(item["required"]) == {"id", "title", "community", "year", "cost", "status", "votes"}
    assert "accepted" in schema_of(doc, item["properties"]["status"])["enum"]

    detail = answer_schema(doc, project, "get", "200")
    assert {"category", "funded_on", "spent", "milestones", "timeline", "spending", "acceptance", "rating",
            "carried_into", "ended"} <= set(detail["required"])
    assert "water" in schema_of(doc, detail["properties"]["category"])["enum"]
    assert detail["properties"]["spent"]["pattern"]

    entry = answer_schema(doc, project + "/spending", "post", "201")
    assert set(entry["required"]) == {"id", "date", "amount", "payee", "note", "approval", "reverses", "reversed_by"}
    assert set(doc["paths"][project + "/spending"]["post"]["responses"]) >= {"201", "401", "403", "404", "409", "422"}

    ledger = answer_schema(doc, "/api/v1/ledger/{code}/{year}", "get", "200")
    assert {"fund", "remaining", "projects", "spending", "approvals", "left_over", "year_end"} <= set(ledger["required"])
    closing = answer_schema(doc, "/api/v1/cycles/{cycle_id}/closing", "get", "200")
    assert schema_of(doc, closing["properties"]["phase"])["enum"][0] == "collection"
    assert "security" not in doc["paths"]["/api/v1/projects"]["get"]
    assert doc["paths"][project + "/rating"]["post"]["security"] == [{"bearer": []}]


def test_the_document_describes_the_district_answers(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    communities = answer_schema(doc, "/api/v1/communities", "get", "200")
    assert set(schema_of(doc, communities["items"])["required"]) == {"code", "name", "street"}
    cycles = answer_schema(doc, "/api/v1/communities/{code}/cycles", "get", "200")
    cycle = schema_of(doc, cycles["items"])
    assert set(cycle["required"]) == {"id", "year", "fund", "phase"}
    assert schema_of(doc, cycle["properties"]["phase"])["enum"][-1] == "closed"
    assert "404" in doc["paths"]["/api/v1/communities/{code}/cycles"]["get"]["responses"]


# --- Refusals --------------------------------------------------------------------------------------

def test_a_refused_payment_names_every_wrong_field(built, client, auth):
    response = client.post(f"/api/v1/projects/{built.started.id}/spending", headers=auth.headers("staff-ca") | EN,
                           json={"date": "2025-13-01", "amount": "12.345", "payee": 5, "payer": "x"})
    assert response.status_code == 422
    assert fields(response) == {"date": "bad_date", "amount": "bad_amount", "payee": "not_text",
                                "payer": "unknown_field"}
    assert rows(SpendingEntry) == {"spending_entry": 0}
    missing = client.post(f"/api/v1/projects/{built.started.id}/spending", headers=auth.headers("staff-ca"), json={})
    assert fields(missing) == {"date": "missing_date", "amount": "missing_amount", "payee": "missing_payee"}


def test_a_service_refusal_names_the_requests_field(built, client, auth):
    future = client.post(f"/api/v1/projects/{built.started.id}/spending", headers=auth.headers("staff-ca"),
                         json={"date": "2099-01-01", "amount": "100", "payee": "某公司"})
    assert future.status_code == 422 and fields(future) == {"date": "date_in_future"}
    step = client.post(f"/api/v1/projects/{built.funded.id}/status", headers=auth.headers("staff-ca"),
                       json={"status": "accepted"})
    assert fields(step) == {"status": "bad_status_change"}


@pytest.mark.parametrize("path, body, wrong", [
    ("/status", {"status": 3, "accepted_on": "soon", "panel": ["x"]},
     {"status": "bad_status_change", "accepted_on": "bad_date", "panel": "not_text"}),
    ("/milestones", {"date": 20250101, "text": "长" * 1001}, {"date": "bad_date", "text": "too_long"}),
    ("/spending/1/reversal", {"reason": " ", "why": "x"}, {"reason": "missing_reason", "why": "unknown_field"}),
    ("/end", {"reason": {"a": 1}}, {"reason": "not_text"}),
])
def test_refused_staff_bodies(built, client, auth, path, body, wrong):
    response = client.post(f"/api/v1/projects/{built.started.id}{path}", headers=auth.headers("staff-ca"), json=body)
    assert response.status_code == 422 and fields(response) == wrong


def test_a_refused_rating_and_approval(built, client, auth):
    rating = client.post(f"/api/v1/projects/{built.done.id}/rating", headers=auth.headers("resident-ca-1"),
                         json={"score": "5", "comment": 1})
    assert rating.status_code == 422 and fields(rating) == {"score": "bad_score", "comment": "not_text"}
    assert fields(client.post(f"/api/v1/projects/{built.done.id}/rating", headers=auth.headers("resident-ca-1"),
                              json={})) == {"score": "missing_score"}
    assert rows(ProjectRating) == {"project_rating": 0}
    approval = client.post("/api/v1/ledger/ca/2025/approvals", headers=auth.headers("admin"),
                           json={"amount": "35.555", "reason": "", "project": MAX_ID + 1})
    assert approval.status_code == 422
    assert fields(approval) == {"amount": "bad_amount", "reason": "missing_reason", "project": "out_of_range"}
    assert rows(FundApproval) == {"fund_approval": 0}


@pytest.mark.parametrize("query, wrong", [
    ("status=done&year=21&page=0", {"status": "bad_status", "year": "bad_year", "page": "bad_page"}),
    ("page=" + "9" * 5000, {"page": "bad_page"}),
    ("year=２０２１", {"year": "bad_year"}),
    ("status=funded&status=accepted", {"status": "bad_status"}),
])
def test_a_refused_query_names_every_wrong_filter(built, client, query, wrong):
    response = client.get(f"/api/v1/projects?{query}")
    assert response.status_code == 422 and fields(response) == wrong


def test_empty_filters_count_as_absent(built, client):
    assert client.get("/api/v1/projects?status=&community=&year=&page=").get_json()["total"] == 4


def test_a_parameter_the_query_does_not_take_is_ignored(built, client):
    """A front end's cache-buster (`?_=1700000000`) is no error; a body's unknown field is."""
    assert client.get("/api/v1/projects?_=1700000000&status=funded").status_code == 200


def test_a_milestone_form_with_photos_and_a_photos_field_that_is_not_a_file(built, client, auth):
    headers = auth.headers("staff-ca")
    url = f"/api/v1/projects/{built.started.id}/milestones"
    saved = client.post(url, data={"date": local_today().isoformat(), "text": "进场",
                                   "photos": [(io.BytesIO(jpeg_bytes()), "a.jpg"), (io.BytesIO(jpeg_bytes()), "b.jpg")]},
                        content_type="multipart/form-data", headers=headers)
    assert saved.status_code == 201 and len(saved.get_json()["photos"]) == 2
    refused = client.post(url, data={"date": "x", "text": "进场", "photos": "not a file", "extra": "1"},
                          content_type="multipart/form-data", headers=headers)
    assert refused.status_code == 422
    assert fields(refused) == {"date": "bad_date", "photos": "not_an_image", "extra": "unknown_field"}
    assert rows(Milestone) == {"milestone": 1}


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/projects/{max_row}"),
    ("get", "/api/v1/ledger/ca/{huge}"),
    ("get", "/api/v1/ledger/ca/{max_id}"),
    ("get", "/api/v1/cycles/{max_row}/closing"),
    ("post", "/api/v1/projects/{max_row}/carry-over"),
    ("post", "/api/v1/projects/{max_row}/rating"),
    ("post", "/api/v1/projects/{started}/spending/{max_row}/reversal"),
    ("post", "/api/v1/ledger/ca/{huge}/approvals"),
])
def test_ids_beyond_any_row_are_not_found(built, client, auth, method, path):
    """A year in a ledger's path: any number. Row ids up to the largest a 32-bit id column holds; beyond it
    (up to the document's MAX_ID) PostgreSQL refuses the comparison: the app's path converter must bound them."""
    url = path.format(huge=2**64 + 1, max_id=MAX_ID, max_row=2**31 - 1, started=built.started.id)
    body = {"reason": "x", "amount": "1"} if "approvals" in url else {"score": 5} if "rating" in url else {"reason": "x"}
    user = "admin" if "approvals" in url else "resident-ca-1" if "rating" in url else "staff-ca"
    response = getattr(client, method)(url, headers=auth.headers(user),
                                       **({"json": body} if method == "post" else {}))
    assert response.status_code == 404, response.get_json()
