"""The API against its own document, on a live server: Schemathesis generates requests from
/api/v1/openapi.json (valid ones and invalid ones, with random and with real ids, as nobody, a
resident, staff and the auditor) and checks every answer: no server error, only documented statuses,
every body as its schema says. Then the demo's real traffic: each request and answer of a resident's
and a staff member's day validates against the document."""
from __future__ import annotations

import os
import re

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from conftest import TEST_PASSWORD

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Per operation and way of generating, in every run; VOTING_FUZZ_EXAMPLES=500 for a deeper search.
EXAMPLES = int(os.environ.get("VOTING_FUZZ_EXAMPLES", "12"))
_PARAMETER = re.compile(r"{(\w+)}")


@pytest.fixture()
def served(world, live_server, auth):
    base = live_server(workers=2)
    tokens = {"nobody": None}
    for name in ("resident-ca-1", "staff-ca", "auditor", "grid-ca-1"):
        tokens[name] = auth.token(name)
    return base, tokens


def test_the_fuzzer_finds_no_server_error_and_no_answer_outside_the_document(world, served):
    base, tokens = served
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    known = {"cycle_id": world.a.cycle.id, "project_id": world.a.projects[0].id, "code": world.a.community.code,
             "year": world.a.cycle.year, "objection_id": 1, "entry_id": 1, "receipt": "0" * 12}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35  # every route of the API is in the document
    session = requests.Session()
    for operation in operations:
        names = set(_PARAMETER.findall(operation.path))
        strategies = [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        if names <= set(known):  # and the same with real ids, so the checks reach past 404
            strategies.append(operation.as_strategy(
                GenerationMode.POSITIVE, path_parameters={name: known[name] for name in names}))

        @settings(max_examples=EXAMPLES * len(strategies), deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(strategies), who=st.sampled_from(sorted(tokens)))
        def call(case, who):
            headers = {"Authorization": f"Bearer {tokens[who]}"} if tokens[who] else {}
            case.call_and_validate(base_url=base, session=session, headers=headers, checks=CHECKS)

        call()


def test_the_demos_real_traffic_validates_against_the_document(world, served):
    """Requests a front end really sends, and their answers, against the document's schemas."""
    base, tokens = served
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json")
    cycle, project = world.a.cycle, world.a.projects[0]
    resident = {"Authorization": f"Bearer {tokens['resident-ca-1']}"}
    staff = {"Authorization": f"Bearer {tokens['staff-ca']}"}
    traffic = [
        ("POST", "/api/v1/auth/token", None, {"username": "resident-ca-2", "password": TEST_PASSWORD}),
        ("GET", "/api/v1/me", resident, None),
        ("GET", "/api/v1/communities", None, None),
        ("GET", f"/api/v1/communities/{world.a.community.code}/cycles", None, None),
        ("GET", f"/api/v1/cycles/{cycle.id}", None, None),
        ("PUT", f"/api/v1/cycles/{cycle.id}/ballot", resident, {"projects": [project.id]}),
        ("GET", f"/api/v1/cycles/{cycle.id}/ballot", resident, None),
        ("PUT", f"/api/v1/cycles/{cycle.id}/ballot", resident, {"projects": [project.id, 999_999]}),
        ("GET", f"/api/v1/cycles/{cycle.id}/proposals", staff, None),
        ("GET", "/api/v1/me/proposals", resident, None),
        ("GET", f"/api/v1/cycles/{cycle.id}/results", None, None),
        ("GET", "/api/v1/projects?status=funded", None, None),
        ("GET", f"/api/v1/projects/{project.id}", None, None),
        ("GET", f"/api/v1/cycles/{cycle.id}/objections", None, None),
    ]
    seen = set()
    for method, path, headers, body in traffic:
        response = requests.request(method, base + path, headers=headers or {}, json=body, timeout=30)
        operation = schema.find_operation_by_path(method, path.split("?")[0])
        assert operation is not None, (method, path)
        if body is not None:
            body_schema = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]
            validator = jsonschema_rs.Draft202012Validator(body_schema | {"components": schema.raw_schema["components"]})
            validator.validate(body)
        operation.validate_response(response)  # raises when the answer is not as documented
        seen.add(response.status_code)
    assert {200, 422} <= seen  # answers and refusals both checked

