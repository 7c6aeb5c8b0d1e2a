"""Security headers and cookies: a strict Content-Security-Policy (no inline script), nosniff,
framing denied, HSTS and Secure cookies whenever the request came over HTTPS; `Cache-Control:
no-store` on whatever may show a person's own data; where a redirect taken from input may go."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import BadRequest

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


# A path of this site as a redirect may take it: one slash, then printable ASCII (no space, tab,
# newline or other control character a browser would drop to make `/\t/evil` into `//evil`).
_SITE_PATH = re.compile(r"/[\x21-\x7e]*")


def safe_path(target) -> str | None:
    """`target` when it is a path of this site (`/cycles/3?tab=1`), else None: never another host
    (`//evil`, `/\\evil`, `http://evil`), never a control character, a backslash or a non-ASCII
    character (the site's own links are percent-encoded)."""
    if not isinstance(target, str) or not _SITE_PATH.fullmatch(target) or "\\" in target:
        return None
    if target.startswith("//") or urlsplit(target).netloc or urlsplit(target).scheme:
        return None
    return target


def safe_referrer() -> str | None:
    """The page the request came from, as a path, when it is a page of this site."""
    referrer = request.referrer
    if not referrer or not referrer.startswith(request.host_url):
        return None
    return safe_path("/" + referrer[len(request.host_url):])


# Pages and answers that carry a password, a token or a code although nobody is signed in yet.
_CREDENTIAL_ENDPOINTS = frozenset({"accounts.login", "accounts.activate_page", "api.create_token", "api.activate"})


def no_store(response):
    """Keep what may show a person's own data out of every cache (a shared phone's browser, a proxy):
    every answer to a signed-in session or to a request with credentials (a bearer token), and the
    sign-in and activation pages and answers. Public pages to anonymous readers stay cacheable; so
    do static files, and what a view marks `public` itself (a published photo)."""
    if request.endpoint == "static":
        return response
    said = response.headers.get("Cache-Control", "")
    if "no-store" in said or "public" in said:
        return response  # the view said so itself: a private photo is `private, no-store`, a public one public
    if (request.endpoint in _CREDENTIAL_ENDPOINTS or "Authorization" in request.headers
            or session.get("_user_id") is not None):
        response.headers["Cache-Control"] = "no-store"
    return response


def refuse_nul_characters() -> None:
    """Before every request: a NUL character in the path, the query or a form field is no input of
    any page (PostgreSQL's text cannot hold it: it would be a database error, a 500). A JSON body's
    `\\u0000` is refused where it is read (`api.JSONProvider`).

    :raises BadRequest: `nul_character` (400).
    """
    fields = request.form.lists() if request.mimetype in _FORMS else ()
    if "\0" in request.path or any("\0" in name or any("\0" in value for value in values)
                                   for name, values in (*request.args.lists(), *fields)):
        raise BadRequest(_("What you sent contains a NUL character, which no field takes."), "nul_character")


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


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
    app.after_request(no_store)
    app.before_request(refuse_nul_characters)
