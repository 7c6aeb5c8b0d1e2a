"""The OpenAPI 3.1 document: SpecTree's, from the routes' models, completed from the routes themselves."""
from __future__ import annotations

import copy
import re

from flask import current_app, jsonify

from ..accounts.access import public
from . import bp
from .schema import MAX_ID, spec

_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR = {"description": "Refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build_document(app) -> dict:
    """The document for `app`'s API routes.

    From each route it adds what the models cannot say: whether a bearer token is needed (and then
    401), that an id in the path may be unknown (404), that path ids are 32-bit integers, and an
    operationId named after the view. A route without a model is an error: every route is typed.
    """
    with app.app_context():
        document = copy.deepcopy(spec.spec)
    document["servers"] = [{"url": "/"}]
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    document.pop("security", None)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(bp.url_prefix) or rule.endpoint == "api.openapi":
            continue
        view = app.view_functions[rule.endpoint]
        path = _PARAMETER.sub(r"{\2}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                raise LookupError(f"{method} {rule.rule} has no request and answer models (api/schema.py)")
            operation["operationId"] = f"{rule.endpoint.removeprefix('api.')}_{method.lower()}"
            operation.pop("tags", None)
            if not getattr(view, "is_public", False):
                operation["security"] = [{"bearer": []}]
                operation["responses"].setdefault("401", _ERROR)
                operation["responses"].setdefault("403", _ERROR)
            if rule.arguments:
                operation["responses"].setdefault("404", _ERROR)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"] = {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_ID}
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


@bp.get("/openapi.json")
@public
def openapi():
    """This document."""
    return jsonify(build_document(current_app))
