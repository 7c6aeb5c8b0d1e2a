"""The web app: `create_app` builds it with its settings, extensions and blueprints (flaskr's way)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, has_request_context, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from . import api
from . import models  # noqa: F401  (every table known to the metadata)
from .accounts import api as accounts_api
from .accounts import views as accounts
from .accounts.access import deny_by_default, is_api_request
from .accounts.services import user_for_session_id
from .api import error_response, handle_domain_error, handle_http_error, http_error_message, openapi
from .api import JSONProvider, Request
from .audit import api as audit_api
from .audit import views as audit
from .ballots import api as ballots_api
from .ballots import paper_views
from .ballots import views as ballots
from .cli import register_commands
from .config import Settings
from .cycles import api as cycles_api
from .cycles import views as cycles
from .database import configure_engine
from .errors import DomainError
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .format import register_template_helpers
from .geography import api as geography_api
from .geography import views as geography
from .me import views as me
from .mobilise import views as mobilise
from .proposals import api as proposals_api
from .proposals import views as proposals
from .resources import instance_dir, resource_dir
from .residents import views as residents
from .results import api as results_api
from .results import views as results
from .security import init_security
from .tracking import api as tracking_api
from .tracking import views as tracking
from .validation import MAX_INTEGER

ROOT = Path(__file__).resolve().parent.parent  # the checkout; installed, site-packages (voting/resources.py)
LOCALES = ("zh_CN", "en")
PAGES = (accounts, geography, cycles, proposals, ballots, audit, results, tracking, residents, mobilise, me)
# Modules that add routes to a blueprint above when imported: each feature's JSON routes to the API's,
# the paper ballots' pages to the ballots'.
MORE_ROUTES = (paper_views, accounts_api, geography_api, cycles_api, proposals_api, ballots_api, audit_api, results_api,
              tracking_api, openapi)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints. No network, migration or sleep here."""
    app = Flask(
        __name__,
        instance_path=str(instance_dir()),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    _read_input_strictly(app)
    settings = Settings.from_env(Path(app.instance_path))
    app.config.from_mapping(settings.flask_config())
    if test_config:
        app.config.update(test_config)
    _init_extensions(app)
    init_security(app, settings.proxy_count)
    _register_blueprints(app)
    _register_error_handlers(app)
    register_commands(app)
    return app


class BoundedIntegerConverter(IntegerConverter):
    """`<int:...>` in a route: digits 0-9 only (Werkzeug's `\\d` also takes other scripts' digits) and
    at most `validation.MAX_INTEGER`, what a database id or year holds: a larger number is no page
    (404), not a database error (500)."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, MAX_INTEGER if max is None else max, signed)

    def to_python(self, value: str) -> int:
        """:raises NotFound: out of bounds (Werkzeug's own refusal would answer 405 when another rule of
        the path takes another method)."""
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


def _read_input_strictly(app: Flask) -> None:
    """Bounded route integers, bounded JSON bodies (`api.JSONProvider`, `api.Request`); before any route."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.request_class = Request
    app.json = JSONProvider(app)


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories=str(ROOT / "voting" / "translations"))
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    login_manager.user_loader(lambda session_id: user_for_session_id(db.session, session_id))
    app.before_request(deny_by_default)
    register_template_helpers(app)


def _register_blueprints(app: Flask) -> None:
    for pages in PAGES:
        app.register_blueprint(pages.bp)
    csrf.exempt(api.bp)  # the API takes bearer tokens only, never cookies
    app.register_blueprint(api.bp)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        if is_api_request():
            return handle_domain_error(error)
        if error.status == 401:
            return login_manager.unauthorized()
        return render_template("errors.html", message=error.message, status=error.status), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            return handle_http_error(error)
        return render_template("errors.html", message=http_error_message(error), status=error.code), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unexpected error")
        if is_api_request():
            return error_response("internal_error", _("Something went wrong on our side."), 500)
        return render_template("errors.html", message=_("Something went wrong on our side."), status=500), 500


def _select_locale() -> str | None:
    if not has_request_context():
        return "en"  # the command line speaks English, like its commands and options
    chosen = request.cookies.get("lang")
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"], default="zh_CN")
    return "en" if best == "en" else "zh_CN"
