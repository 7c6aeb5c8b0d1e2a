"""Strict input everywhere (issue 19): bounded ids and numbers, bounded JSON, safe redirects,
`Cache-Control: no-store` on personal answers, and a property test that no input answers 5xx."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from voting.api import MAX_JSON_BYTES, MAX_JSON_DEPTH
from voting.extensions import db
from voting.proposals.models import Project
from voting.security import safe_path
from voting.validation import (
    MAX_INTEGER, InvalidField, date_value, int_value, local_time_value, query_int, utc_time_value,
)

HUGE = (MAX_INTEGER + 1, 2**63, 2**64, 27917696436227506176, 10**40)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


# --- Bounded integers in routes -------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/cycles/{n}/proposals", "/api/v1/cycles/{n}", "/api/v1/projects/{n}", "/api/v1/ledger/ca/{n}",
    "/api/v1/cycles/{n}/results", "/cycles/{n}", "/tracking/projects/{n}", "/tracking/ledger/ca/{n}",
    "/proposals/{n}", "/audit/cycles/{n}",
])
def test_an_id_beyond_an_integer_column_is_no_page(client, path):
    for number in HUGE:
        response = client.get(path.format(n=number))
        assert response.status_code == 404, number
        if path.startswith("/api/"):
            assert error_code(response) == "not_found"


def test_other_digits_in_a_route_are_no_page(client):
    for segment in ("３", "٣", "²", "1_0", "+1", "-1", str(MAX_INTEGER + 1)):
        assert client.get(f"/api/v1/cycles/{segment}").status_code == 404, segment
        assert client.get(f"/api/v1/ledger/ca/{segment}").status_code == 404, segment


def test_the_largest_id_is_read_and_not_found(world, auth, client):
    largest = MAX_INTEGER
    for user, path, body in (
            ("resident-ca-1", f"/api/v1/projects/{largest}/rating", {"score": 5}),
            ("staff-ca", f"/api/v1/projects/{largest}/spending", {"date": "2025-05-01", "amount": "1", "payee": "x"}),
            ("staff-ca", f"/api/v1/projects/{largest}/spending/{largest}/reversal", {"reason": "x"}),
            ("admin", f"/api/v1/ledger/ca/{largest}/approvals", {"amount": "1", "reason": "x"})):
        response = client.post(path, json=body, headers=auth.headers(user))
        assert response.status_code == 404, (path, response.get_json())


def test_a_real_id_still_answers(world, client):
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}").status_code == 200


# --- Bounded numbers, dates and times in bodies and query strings ------------------------------------

@pytest.mark.parametrize("value, code", [
    ("²", "not_a_number"), ("３", "not_a_number"), ("٣", "not_a_number"), ("1_000", "not_a_number"),
    ("1e3", "not_a_number"), (" + 5", "not_a_number"), (1.0, "not_a_number"), (True, "not_a_number"),
    ([1], "not_a_number"), ({"a": 1}, "not_a_number"), (str(2**64), "out_of_range"), (2**64, "out_of_range"),
    ("9" * 40, "out_of_range"), ("9" * 41, "not_a_number"), (-(2**70), "out_of_range"),
])
def test_whole_numbers_are_digits_within_bounds(app, value, code):
    with pytest.raises(InvalidField) as refused:
        int_value(value, "n", "n", minimum=1, maximum=2**31 - 1)
    assert refused.value.code == code and refused.value.status == 422


@pytest.mark.parametrize("value", ["12", " 12 ", 12, "-0"])
def test_whole_numbers_still_read(app, value):
    assert int_value(value, "n", "n", minimum=-5, maximum=20) == int(str(value).strip())


@pytest.mark.parametrize("value", ["1999-12-31", "2101-01-01", "0001-01-01", "9999-12-31", "２０２６-01-01"])
def test_dates_outside_the_years_are_refused(app, value):
    with pytest.raises(InvalidField) as refused:
        date_value(value, "date", "date")
    assert refused.value.code == "bad_date"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                                   "1999-12-31T23:00:00Z", "2101-01-01T00:00:00Z", "２０２６-05-01T01:00:00Z"])
def test_times_outside_the_years_are_refused(app, value):
    for reader in (utc_time_value, local_time_value):
        with pytest.raises(InvalidField) as refused:
            reader(value, "t", "t")
        assert refused.value.code == "bad_time"


def test_times_inside_the_years_read(app):
    assert utc_time_value("2026-05-01T01:00:00Z", "t", "t").year == 2026
    assert local_time_value("2100-12-31T23:59", "t", "t").year == 2100
    assert date_value("2000-01-01", "d", "d").year == 2000


@pytest.mark.parametrize("value, read", [("3", 3), (str(MAX_INTEGER), MAX_INTEGER), (str(MAX_INTEGER + 1), None),
                                         ("-7", -7), (str(2**63), None), ("３", None),
                                         ("²", None), ("1_0", None), ("", None)])
def test_query_numbers(value, read):
    if read is None:
        with pytest.raises(ValueError):
            query_int(value)
    else:
        assert query_int(value) == read


def test_huge_query_numbers_fall_back(world, auth, client):
    for year in (2**64, MAX_INTEGER, MAX_INTEGER + 1, "²", "２０２６"):
        assert client.get(f"/dashboard?year={year}").status_code == 200
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/receipts?page={MAX_INTEGER}").status_code == 200
    for page in (10**30, MAX_INTEGER + 1, "٣", -(2**63)):  # the typed API says what is wrong instead
        response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/receipts?page={page}")
        assert response.status_code == 422 and response.get_json()["error"]["fields"][0]["field"] == "page"
    auth.login("auditor")
    assert client.get(f"/audit/cycles/{world.a.cycle.id}?page={2**64}").status_code == 200
    auth.login("staff-ca")
    assert client.get(f"/paper/{MAX_INTEGER}?resident={2**64}").status_code == 404


def test_a_body_with_odd_numbers_answers_422_and_stores_nothing(world, auth, client):
    headers = auth.headers("staff-ca")
    project = world.a.projects[0]
    before = db.session.scalar(select(func.count()).select_from(Project))
    for into, code in (("²", "not_a_number"), (2**64, "out_of_range"), ("９", "not_a_number")):
        response = client.post(f"/api/v1/proposals/{project.id}/review", json={"decision": "merge", "into": into},
                               headers=headers)
        assert response.status_code in (409, 422), response.get_json()
        if response.status_code == 422:
            assert error_code(response) == code
    url = f"/api/v1/ledger/ca/{world.a.cycle.year}/approvals"
    response = client.post(url, json={"amount": "10", "reason": "x", "project": "²"}, headers=auth.headers("admin"))
    assert response.status_code == 422 and error_code(response) == "not_a_number"
    assert db.session.scalar(select(func.count()).select_from(Project)) == before


@pytest.fixture()
def collecting(world, factory):
    cycle = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    return cycle


PROPOSAL = {"title": "路灯", "description": "晚上太黑。", "category": "lighting", "location": "3栋"}


def test_a_nul_character_is_refused_everywhere(world, auth, client, collecting):
    """PostgreSQL's text holds no NUL: in a path, a query, a form or a JSON body it is a 400, never a 500."""
    for path in ("/api/v1/communities/%00/cycles", "/c/%00", "/api/v1/projects?community=%00",
                 "/api/v1/projects?status=a%00b", "/receipts/%00"):
        response = client.get(path)
        assert response.status_code == 400, path
        if path.startswith("/api/"):
            assert error_code(response) == "nul_character"
    response = client.post(f"/api/v1/cycles/{collecting.id}/proposals", json=PROPOSAL | {"title": "a\u0000b",
                           "estimated_cost": "100"}, headers=auth.headers("resident-ca-1"))
    assert response.status_code == 400 and error_code(response) == "malformed_json"
    auth.login("resident-ca-1")
    response = client.post(f"/cycles/{collecting.id}/propose", data=PROPOSAL | {"title": "路\x00灯",
                                                                                 "estimated_cost": "100"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Project).where(Project.cycle_id == collecting.id)) == 0


# --- Money through the API ---------------------------------------------------------------------------

def test_a_proposal_cost_not_plain_yuan_is_refused(world, auth, client, collecting):
    headers = auth.headers("resident-ca-1") | {"Accept-Language": "en"}
    for cost in ("1e999997", "35,5", "1_000", "1 000", "３５", "٣", "-5", "+5", 1.005, True, "NaN", "1" * 5000):
        started = time.perf_counter()
        response = client.post(f"/api/v1/cycles/{collecting.id}/proposals", json=PROPOSAL | {"estimated_cost": cost},
                               headers=headers)
        assert time.perf_counter() - started < 0.5
        assert response.status_code == 422 and error_code(response) == "bad_amount", (cost, response.get_json())
        assert "35000.50" in response.get_json()["error"]["message"], cost
    response = client.post(f"/api/v1/cycles/{collecting.id}/proposals",
                           json=PROPOSAL | {"estimated_cost": "10000000000.01"}, headers=headers)
    assert "at most 10,000,000,000 yuan" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(Project).where(Project.cycle_id == collecting.id)) == 0


def test_a_proposal_cost_in_plain_yuan_is_taken(world, auth, client, collecting):
    headers = auth.headers("resident-ca-1")
    for cost, fen in (("35000", 3_500_000), ("35000.5", 3_500_050), (35000.5, 3_500_050), (12000, 1_200_000)):
        response = client.post(f"/api/v1/cycles/{collecting.id}/proposals", json=PROPOSAL | {"estimated_cost": cost},
                               headers=headers)
        assert response.status_code == 201, response.get_json()
        assert db.session.get(Project, response.get_json()["id"]).estimated_cost_fen == fen


# --- Bounded JSON --------------------------------------------------------------------------------------

def test_deeply_nested_json_is_malformed_at_once(world, auth, client):
    headers = auth.headers("resident-ca-1") | {"Content-Type": "application/json"}
    for depth in (MAX_JSON_DEPTH + 1, 900, 100_000):
        for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
            started = time.perf_counter()
            response = client.put(f"/api/v1/cycles/{world.a.cycle.id}/ballot", data=body, headers=headers)
            assert time.perf_counter() - started < 0.5
            assert response.status_code == 400 and error_code(response) == "malformed_json"
    # the sign-in's rate limits read the body too: deep nesting is no 500 there either
    response = client.post("/api/v1/auth/token", data="[" * 100_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_nesting_within_the_bound_is_read(world, auth, client):
    nested = [[[]]]
    response = client.put(f"/api/v1/cycles/{world.a.cycle.id}/ballot", json={"projects": nested},
                          headers=auth.headers("resident-ca-1"))
    assert response.status_code == 422  # read, then refused as choices


def test_a_json_body_beyond_the_bound_is_413(world, auth, client):
    body = json.dumps({"title": "x" * MAX_JSON_BYTES})
    response = client.post("/api/v1/auth/token", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_code(response) == "request_entity_too_large"
    response = client.post(f"/api/v1/cycles/{world.a.cycle.id}/proposals", data=body,
                           headers=auth.headers("resident-ca-1") | {"Content-Type": "application/json"})
    assert response.status_code == 413 and set(response.get_json()["error"]) >= {"code", "message"}


def test_bodies_that_are_not_utf8_json_objects_are_malformed(client):
    for raw in (b'{"username": "\xff\xfe"}', '{"username": "a"}'.encode("utf-16"), b"\xc3\x28",
                b'{"username": "a"', b"", b"NaN", b"[1]"):
        response = client.post("/api/v1/auth/token", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and error_code(response) == "malformed_json", raw


# --- Safe redirects ------------------------------------------------------------------------------------

ATTACKS = ["//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
           "/\n/evil.example", "/\r\n/evil.example", "/ /evil.example", "/%09/evil.example".replace("%09", "\t"),
           "http://evil.example", "https:evil.example", "//evil.example/%2F..", "javascript:alert(1)",
           "evil.example", " /cycles/1", "/cycles/1\x00", "/cycles/1\x7f", "/\u3000/evil.example",
           "/\uff0f/evil.example", "", None, 5, "/cycles\\1"]


@pytest.mark.parametrize("target", ATTACKS)
def test_a_redirect_target_off_this_site_is_refused(target):
    assert safe_path(target) is None


@pytest.mark.parametrize("target", ["/", "/cycles/3", "/cycles/3?tab=1&x=%2F%2Fevil#top", "/%09/evil.example",
                                    "/c/ca/residents?q=%E4%B8%AD"])
def test_a_path_of_this_site_is_kept(target):
    assert safe_path(target) == target


def test_sign_in_goes_to_their_own_page_instead_of_off_site(world, client):
    for target in ("//evil.example", "/%09/evil.example", "/%0A/evil.example", "/%5Cevil.example",
                   "https://evil.example", "/%E3%80%80/evil.example", "/%0D%0ASet-Cookie:%20x=1"):
        response = client.post("/login?next=" + target, data={"username": "resident-ca-1", "password": "Test-Pass-1"})
        assert response.status_code == 302 and response.headers["Location"] == "/me", target  # their own page


def test_sign_in_goes_on_to_a_page_of_the_site(world, client):
    response = client.post(f"/login?next=/cycles/{world.a.cycle.id}",
                           data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert response.headers["Location"] == f"/cycles/{world.a.cycle.id}"


def test_the_language_switch_goes_back_only_on_site(world, client):
    assert client.get("/lang/en", headers={"Referer": "http://localhost/cycles/1"}).headers["Location"] == "/cycles/1"
    for referrer in ("http://localhost//evil.example", "http://localhost.evil.example/", "http://evil.example/"):
        assert client.get("/lang/en", headers={"Referer": referrer}).headers["Location"] == "/"


def test_after_a_real_sign_in_the_redirect_stays_on_site(world, live_server):
    """A browser-like client (cookies, the CSRF token of the page) signs in on the live server with
    `next=/%09/evil.example`: the redirect it follows stays on this site."""
    base = live_server(workers=1)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    login = f"{base}/login?next=/%09/evil.example"
    page = opener.open(login, timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": "resident-ca-1", "password": "Test-Pass-1"})
    with opener.open(urllib.request.Request(login, data=body.encode()), timeout=10) as response:
        final = response.geturl()
        assert response.status == 200
    assert final == base + "/me", final  # their own page
    assert urllib.parse.urlsplit(final).netloc == urllib.parse.urlsplit(base).netloc


# --- Cache-Control: no-store ------------------------------------------------------------------------------

def test_no_store_on_tokens_and_credentials(world, client):
    response = client.post("/api/v1/auth/token", json={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    refused = client.post("/api/v1/auth/token", json={"username": "resident-ca-1", "password": "wrong"})
    assert refused.headers["Cache-Control"] == "no-store"
    for page in ("/login", "/activate"):
        assert client.get(page).headers["Cache-Control"] == "no-store"
    assert client.post("/api/v1/auth/activate", json={}).headers["Cache-Control"] == "no-store"


def test_no_store_on_every_answer_with_credentials(world, auth, client):
    headers = auth.headers("resident-ca-1")
    for path in ("/api/v1/me", f"/api/v1/cycles/{world.a.cycle.id}/ballot", "/api/v1/communities",
                 f"/api/v1/cycles/{world.a.cycle.id}/proposals", "/api/v1/nothing-here"):
        assert client.get(path, headers=headers).headers.get("Cache-Control") == "no-store", path
    auth.login("resident-ca-1")
    for path in ("/", f"/cycles/{world.a.cycle.id}", f"/cycles/{world.a.cycle.id}/vote", "/account/password",
                 "/no-such-page"):
        assert client.get(path).headers.get("Cache-Control") == "no-store", path


def test_public_answers_stay_cacheable(world, client):
    for path in ("/", f"/cycles/{world.a.cycle.id}", "/api/v1/communities", f"/api/v1/cycles/{world.a.cycle.id}",
                 "/static/css/site.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("Cache-Control", ""), path


def test_static_files_stay_cacheable_when_signed_in(world, auth, client):
    auth.login("resident-ca-1")
    assert "no-store" not in client.get("/static/css/site.css").headers.get("Cache-Control", "")


# --- No input answers 5xx ------------------------------------------------------------------------------

# The fields the API's bodies name, so random bodies reach past "missing" into each field's reader.
FIELDS = ["accepted_on", "amount", "category", "comment", "community", "cost", "date", "decision", "description",
          "estimated_cost", "fund", "id_last6", "into", "location", "max_choices", "method", "min_choices",
          "min_turnout_percent", "note", "notice_days", "outcome_rule", "panel", "password", "payee", "phase",
          "points", "project", "projects", "reason", "remarks", "score", "status", "text", "threshold",
          "threshold_percent", "title", "username", "voters", "voting_closes_at", "voting_code", "voting_opens_at",
          "year"]
ODD = ["", " ", "²", "３５", "٣", "1e999997", "35,5", "1_000", "-1", "0", "1.005", "NaN", "null", "2026-05-01",
       "0001-01-01", "9999-12-31", "2026-05-01T01:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
       "\x00", "\u202e", "a" * 5000, "collection", "review", "voting", "results", "approval", "cumulative",
       "choose_one", "households", "lighting", "ballot", "merge", "reject", "in_progress", "accepted",
       MAX_INTEGER, MAX_INTEGER + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, -0.0, 1e308, True, False, None, [], {}]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(ODD),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), st.sampled_from(ODD) | JSON_VALUES, max_size=8),
    JSON_VALUES,
    st.sampled_from([b"[" * 50_000, b"\xff\xfe\x00", b'{"a": 1', b"1e999999", b'{"projects": ' + b"[" * 2000]),
)
SEGMENTS = st.one_of(st.sampled_from(["ca", "cb", "csv", "json", "²", "%00", "%2F", "..", "x" * 300]),
                     st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8))
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def api_routes(app: Flask) -> list[tuple[str, str]]:
    """(rule, method) for every route under /api/v1, from the url map."""
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
                  for method in rule.methods if method in METHODS)


def build_path(rule: str, ids, segments) -> str:
    """The rule with each `<int:...>` filled from `ids` and each other argument from `segments`."""
    ids, segments = iter(ids), iter(segments)

    def fill(match):
        value = next(ids) if match.group(1) == "int" else next(segments)
        return urllib.parse.quote(str(value), safe="%")
    return ARGUMENT.sub(fill, rule)


def send(client, method: str, path: str, body, headers: dict):
    if isinstance(body, bytes):
        return client.open(path, method=method, data=body, headers=headers | {"Content-Type": "application/json"})
    return client.open(path, method=method, json=body, headers=headers)


def assert_answered(response, method: str, path: str, body) -> None:
    assert response.status_code < 500, (method, path, body, response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert set(response.get_json()["error"]) >= {"code", "message"}, (method, path)


@pytest.fixture()
def callers(world, auth) -> dict[str, dict]:
    return {"anonymous": {}, "resident": auth.headers("resident-ca-1"), "staff": auth.headers("staff-ca")}


def test_every_api_route_answers_huge_and_odd_input_without_5xx(app, world, client, callers):
    """A sweep first: every route, as each caller, with ids beyond an integer column and with a body whose every
    field is an odd value."""
    routes = api_routes(app)
    assert len(routes) > 30
    real = [world.a.cycle.id, world.a.projects[0].id]
    for rule, method in routes:
        for headers in callers.values():
            for ids, body in (([MAX_INTEGER + 1] * 3, {}), ([MAX_INTEGER] * 3, dict.fromkeys(FIELDS, MAX_INTEGER)),
                              (real + real, dict.fromkeys(FIELDS, "²")), (real + real, dict.fromkeys(FIELDS, 2**64))):
                path = build_path(rule, ids, ["ca", "ca"]) + f"?page={2**64}&year=²&status=%00"
                assert_answered(send(client, method, path, body, headers), method, path, body)


def test_random_bodies_and_ids_on_every_api_route_answer_no_5xx(app, world, client, callers):
    """Hypothesis picks a route under /api/v1, a caller, ids (real, small, at and beyond the bound) and a
    body (random JSON, the API's field names with odd values, broken or deep bytes)."""
    routes = api_routes(app)
    real_ids = [world.a.cycle.id, world.b.cycle.id, *(p.id for p in world.a.projects), 0, 1, MAX_INTEGER]
    ids = st.one_of(st.sampled_from(real_ids), st.sampled_from(HUGE), st.integers(min_value=0, max_value=10**22),
                    st.integers(min_value=0, max_value=MAX_INTEGER))

    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(route=st.sampled_from(routes), caller=st.sampled_from(sorted(callers)), path_ids=st.lists(ids, min_size=3,
           max_size=3), segments=st.lists(SEGMENTS, min_size=2, max_size=2), body=BODIES,
           query=st.dictionaries(st.sampled_from(["page", "year", "status", "community", "q"]),
                                 st.sampled_from(ODD).map(str) | st.text(max_size=6), max_size=3))
    def probe(route, caller, path_ids, segments, body, query):
        rule, method = route
        path = build_path(rule, path_ids, segments)
        if query:
            path += "?" + urllib.parse.urlencode(query)
        assert_answered(send(client, method, path, body, callers[caller]), method, path, body)

    probe()
