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


@pytest.mark.parametrize("cost", ["1e999997", "35,5", "１０００", "1_000", "1 000", "12.345", "-5", 12.345, True])
def test_money_is_digits_with_at_most_two_decimals(world, client, auth, cost):
    response = client.post(f"/api/v1/cycles/{world.a.cycle.id}/proposals", headers=auth.headers("resident-ca-1"),
                           json={"title": "路灯", "description": "坏了", "category": "lighting", "estimated_cost": cost})
    assert response.status_code == 422
    assert [(f["field"], f["code"]) for f in response.get_json()["error"]["fields"]] == [("estimated_cost", "bad_amount")]


def test_pydantics_own_refusals_are_in_the_apis_words(app):
    from pydantic import Field, ValidationError

    from voting.api.schema import Body, refusal_of

    class Sample(Body):
        ids: list[int] = Field(max_length=2)
        level: int = Field(ge=1, le=5)
        flag: bool
        nested: dict

    with pytest.raises(ValidationError) as raised:
        Sample.model_validate({"ids": [1, 2, 3], "level": 9, "flag": "maybe", "nested": [], "extra": 1})
    error = raised.value
    with app.test_request_context(headers={"Accept-Language": "en"}):
        found = {f.field: (f.code, f.message) for f in refusal_of(error, Sample).fields}
    assert found == {
        "ids": ("out_of_range", "ids may hold at most 2 items."),
        "level": ("out_of_range", "level must be at most 5."),
        "flag": ("bad_type", "flag must be true or false."),
        "nested": ("bad_type", "nested must be an object."),
        "extra": ("unknown_field", "extra is not a field of this request; its fields are: ids, level, flag, nested."),
    }
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert all("Input should" not in f.message for f in refusal_of(error, Sample).fields)
