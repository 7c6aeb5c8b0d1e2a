"""Signing in on pages and through the API; tokens; the deny-by-default gate."""
from datetime import timedelta

import pytest
from conftest import Auth
from sqlalchemy import select

from voting.accounts.models import ApiToken
from voting.database import utcnow
from voting.extensions import db


def test_login_and_logout(world, client, auth):
    response = auth.login("resident-ca-1")
    assert response.status_code == 302
    assert "resident-ca-1" in client.get("/").get_data(as_text=True)
    assert auth.logout().status_code == 302
    assert "resident-ca-1" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("username, password", [("resident-ca-1", "wrong-Pass-9"), ("nobody", "Test-Pass-1")])
def test_login_refusal_does_not_say_which_part_was_wrong(world, client, username, password):
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "Wrong username or password" in text or "用户名或密码错误" in text


def test_login_gives_a_fresh_session(world, client, auth):
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"
    auth.login("resident-ca-1")
    with client.session_transaction() as session:
        assert "planted" not in session


def test_login_refuses_an_offsite_next(world, client):
    response = client.post("/login?next=//evil.example/x", data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]


def test_logout_by_get_changes_nothing(world, client, auth):
    auth.login("resident-ca-1")
    client.get("/logout")
    assert "resident-ca-1" in client.get("/").get_data(as_text=True)


def test_ending_sessions_server_side(world, client, auth):
    auth.login("resident-ca-1")
    token = auth.token("resident-ca-1")
    world.a.residents[0].session_version += 1
    db.session.commit()
    assert "resident-ca-1" not in client.get("/").get_data(as_text=True)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_token_and_me(world, client, auth):
    response = client.get("/api/v1/me", headers=auth.headers("resident-ca-1"))
    assert response.status_code == 200
    assert response.get_json() == {"username": "resident-ca-1", "role": "resident",
                                   "community": {"code": "ca", "name": "ca社区"}}
    admin = client.get("/api/v1/me", headers=auth.headers("admin")).get_json()
    assert admin["role"] == "admin" and admin["community"] is None


def test_token_response_shape_and_storage(world, client):
    body = client.post("/api/v1/auth/token", json={"username": "staff-ca", "password": "Test-Pass-1"}).get_json()
    assert set(body) == {"token", "expires_at"} and body["expires_at"].endswith("Z")
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert body["token"] not in stored and len(stored) == 1


@pytest.mark.parametrize("body, status, code", [
    ({"username": "resident-ca-1", "password": "nope-Nope-1"}, 401, "invalid_credentials"),
    ({"username": "ghost", "password": "Test-Pass-1"}, 401, "invalid_credentials"),
    ({"username": "resident-ca-1"}, 422, "missing_password"),
    ({"username": 5, "password": []}, 422, "not_text"),
    ({"username": "resident-ca-1", "password": "x" * 201}, 422, "too_long"),
    ({"username": "resident-ca-1", "password": "Test-Pass-1", "remember": True}, 422, "unknown_field"),
])
def test_token_refusals(world, client, body, status, code):
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_a_refused_body_names_every_wrong_field(world, client):
    error = client.post("/api/v1/auth/token", json={"username": 5, "pasword": "x"}).get_json()["error"]
    assert [(f["field"], f["code"]) for f in error["fields"]] == [
        ("username", "not_text"), ("password", "missing_password"), ("pasword", "unknown_field")]
    assert all(f["message"] for f in error["fields"]) and error["code"] == "not_text"


def test_token_malformed_json(world, client):
    response = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"


def test_expired_and_forged_tokens(world, client, auth):
    token = auth.token("resident-ca-1")
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer forged-token"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"}).status_code == 401
    row = db.session.scalar(select(ApiToken))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_api_ignores_the_session_cookie(world, client, auth):
    auth.login("resident-ca-1")
    assert client.get("/api/v1/me").status_code == 401


def test_disabled_account_cannot_sign_in(world, client):
    world.a.residents[0].is_enabled = False
    db.session.commit()
    response = client.post("/api/v1/auth/token", json={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert response.status_code == 401


def test_every_non_public_endpoint_needs_sign_in(app, client):
    """Deny by default: walk every route; those not marked public refuse an anonymous caller."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or getattr(view, "is_public", False):
            continue
        path = rule.rule.replace("<int:", "<").replace("<path:", "<")
        path = "/".join("1" if part.startswith("<") else part for part in path.split("/"))
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        response = client.open(path, method=method)
        assert response.status_code in (302, 401), (rule.rule, response.status_code)


def test_sign_out_ends_every_session_and_token(world, app, client, auth):
    token = auth.token("resident-ca-1")
    other_device = app.test_client()
    Auth(other_device).login("resident-ca-1")
    auth.login("resident-ca-1")
    auth.logout()
    assert "resident-ca-1" not in other_device.get("/").get_data(as_text=True)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_change_password(world, app, client, auth):
    token = auth.token("resident-ca-1")
    other_device = app.test_client()
    Auth(other_device).login("resident-ca-1")
    auth.login("resident-ca-1")
    response = client.post("/account/password", data={"current": "Test-Pass-1", "new": "New-Pass-22",
                                                      "confirm": "New-Pass-22"})
    assert response.status_code == 302
    assert "resident-ca-1" in client.get("/").get_data(as_text=True)  # this session stays
    assert "resident-ca-1" not in other_device.get("/").get_data(as_text=True)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert auth.token("resident-ca-1", "New-Pass-22")
    # The app's own hash, salted scrypt at its full cost (the test accounts start with a cheap one).
    resident = world.a.residents[0]
    db.session.refresh(resident)
    method, salt, _digest = resident.password_hash.split("$")
    assert method == "scrypt:32768:8:1" and len(salt) >= 16


@pytest.mark.parametrize("form", [
    {"current": "Wrong-Pass-1", "new": "New-Pass-22", "confirm": "New-Pass-22"},
    {"current": "Test-Pass-1", "new": "short1", "confirm": "short1"},
    {"current": "Test-Pass-1", "new": "onlyletters", "confirm": "onlyletters"},
    {"current": "Test-Pass-1", "new": "New-Pass-22", "confirm": "New-Pass-23"},
    {"current": "Test-Pass-1", "new": "Test-Pass-1", "confirm": "Test-Pass-1"},
])
def test_change_password_refusals_change_nothing(world, client, auth, form):
    auth.login("resident-ca-1")
    before = world.a.residents[0].password_hash
    assert client.post("/account/password", data=form).status_code == 400
    db.session.refresh(world.a.residents[0])
    assert world.a.residents[0].password_hash == before
    assert "resident-ca-1" in client.get("/").get_data(as_text=True)
