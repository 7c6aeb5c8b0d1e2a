"""Security headers and cookies."""


def test_headers_on_pages(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_and_secure_cookie_over_https(world, client):
    response = client.post("/login", base_url="https://localhost",
                           data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert "max-age" in response.headers["Strict-Transport-Security"]
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_over_http_is_httponly_and_not_secure(world, client):
    response = client.post("/login", data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie
