"""Security headers and cookies: a strict Content-Security-Policy (no inline script), nosniff,
framing denied, HSTS and Secure cookies whenever the request came over HTTPS."""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

talisman = Talisman()


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure exactly when the site is served over HTTPS; the API has none."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or super().get_cookie_secure(app)

    def open_session(self, app: Flask, request):
        """None for the API, which knows its users by bearer token only (`accounts.access`)."""
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_security(app: Flask, proxy_count: int) -> None:
    if proxy_count:
        # Behind nginx: trust X-Forwarded-For/-Proto from exactly that many proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_count, x_proto=proxy_count, x_host=proxy_count)
    talisman.init_app(
        app,
        force_https=False,  # HTTPS is the proxy's job; HSTS is sent on every HTTPS response
        strict_transport_security=True,
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="same-origin",
        session_cookie_secure=False,  # decided per request by SessionInterface
        session_cookie_http_only=True,
        x_content_type_options=True,
    )
    app.session_interface = SessionInterface()
