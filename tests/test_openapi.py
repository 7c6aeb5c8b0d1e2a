"""The OpenAPI document says what a client needs: bodies with their fields, limits and value lists,
answers for success and refusal, who needs a token; and the server refuses what it says it refuses."""
from __future__ import annotations

import pytest

from voting.proposals.models import CATEGORIES


@pytest.fixture()
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def resolve(document, schema):
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_schema(document, path, method="post"):
    content = document["paths"][path][method]["requestBody"]["content"]
    return resolve(document, next(iter(content.values()))["schema"])


def answer_schema(document, path, status, method="get"):
    return resolve(document, document["paths"][path][method]["responses"][str(status)]["content"]
                   ["application/json"]["schema"])


def test_the_document_is_openapi_3_1_and_every_route_has_models(app, document):
    assert document["openapi"] == "3.1.0"
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              and rule.endpoint != "api.openapi" for method in rule.methods - {"HEAD", "OPTIONS"}}
    for rule, method in routes:
        path = rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        operation = document["paths"][path][method.lower()]
        assert operation["summary"] and operation["operationId"]
        answers = operation["responses"]
        assert any(status.startswith("2") for status in answers), (method, rule)
        for status in ("400", "422"):
            assert answers[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if "{" in path:
            assert "404" in answers, (method, rule)
    error = document["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"} and "fields" in error["properties"]


def test_a_proposal_says_its_fields_limits_and_categories(document):
    body = body_schema(document, "/api/v1/cycles/{cycle_id}/proposals")
    assert set(body["required"]) == {"title", "description", "category", "estimated_cost"}
    assert body["additionalProperties"] is False
    assert body["properties"]["title"]["maxLength"] == 120
    assert body["properties"]["category"]["enum"] == list(CATEGORIES)
    assert body["properties"]["estimated_cost"]["pattern"] and body["examples"]
    created = answer_schema(document, "/api/v1/cycles/{cycle_id}/proposals", 201, "post")
    statuses = resolve(document, created["properties"]["status"])["enum"]
    assert {"submitted", "on_ballot", "funded", "accepted"} <= set(statuses)
    operation = document["paths"]["/api/v1/cycles/{cycle_id}/proposals"]["post"]
    assert operation["security"] == [{"bearer": []}] and {"401", "403", "409"} <= set(operation["responses"])
    public = document["paths"]["/api/v1/cycles/{cycle_id}/proposals"]["get"]
    assert "security" not in public and "401" not in public["responses"]
    path_id = operation["parameters"][0]["schema"]
    assert path_id["type"] == "integer" and path_id["maximum"] == 2**31 - 1


def test_a_category_outside_the_list_is_refused_naming_the_choices(world, client, auth):
    response = client.post(f"/api/v1/cycles/{world.a.cycle.id}/proposals", headers=auth.headers("resident-ca-1"),
                           json={"title": "路灯", "description": "坏了", "category": "路", "estimated_cost": "100"})
    error = response.get_json()["error"]
    assert response.status_code == 422 and error["code"] == "unknown_category"
    assert "lighting" in error["message"] and error["fields"][0]["field"] == "category"


@pytest.mark.parametrize("cost", ["1e999997", "35,5", "１０００", "1_000", "1 000", "12.345", 12.5, True])
def test_money_is_digits_with_at_most_two_decimals(world, client, auth, cost):
    response = client.post(f"/api/v1/cycles/{world.a.cycle.id}/proposals", headers=auth.headers("resident-ca-1"),
                           json={"title": "路灯", "description": "坏了", "category": "lighting", "estimated_cost": cost})
    assert response.status_code == 422
    assert [(f["field"], f["code"]) for f in response.get_json()["error"]["fields"]] == [("estimated_cost", "bad_amount")]
