"""The app factory, configuration, health and the error shape."""
from pathlib import Path

from voting.config import Settings


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = Settings.from_env(tmp_path, environ={})
    second = Settings.from_env(tmp_path, environ={})
    assert len(first.secret_key) == 64 and first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings.from_env(tmp_path / "other", environ={}).secret_key != first.secret_key


def test_settings_read_the_environment(tmp_path):
    settings = Settings.from_env(tmp_path, environ={
        "VOTING_DATABASE_URL": "postgresql+psycopg://u@h/db", "VOTING_SECRET_KEY": "k" * 40,
        "VOTING_REDIS_URL": "redis://localhost:6379/0", "VOTING_RATELIMIT_ENABLED": "false",
    })
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.secret_key == "k" * 40
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "redis://localhost:6379/0"
    assert settings.ratelimit_enabled is False
    default = Settings.from_env(tmp_path, environ={})
    assert default.database_url == f"sqlite:///{Path(tmp_path) / 'voting.sqlite3'}"
    assert default.ratelimit_enabled is True


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_unknown_page_is_a_readable_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"<html" in response.data and b"Traceback" not in response.data


def test_method_not_allowed_is_json(client):
    response = client.delete("/api/v1/communities")
    assert response.status_code == 405 and "error" in response.get_json()


def test_openapi_lists_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    api_rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/") and "openapi" not in r.rule}
    documented = {p.replace("{", "<").replace("}", ">") for p in spec["paths"]}
    normalised = {r.replace("<int:", "<") for r in api_rules}
    assert normalised == documented
    assert "security" in spec["paths"]["/api/v1/me"]["get"]
    assert "security" not in spec["paths"]["/api/v1/communities"]["get"]
