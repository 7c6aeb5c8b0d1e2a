"""The OpenAPI document, generated from the registered routes so it never drifts from them."""
from __future__ import annotations

import re

from flask import current_app, jsonify

from ..accounts.access import public
from . import bp

_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {"code": {"type": "string"},
                                                                "message": {"type": "string"}}}},
}


def build_document(app) -> dict:
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(bp.url_prefix) or rule.endpoint == "api.openapi":
            continue
        view = app.view_functions[rule.endpoint]
        path = _CONVERTER.sub(r"{\2}", rule.rule)
        parameters = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer" if kind == "int" else "string"}}
            for kind, name in _CONVERTER.findall(rule.rule)
        ]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = {
                "operationId": f"{rule.endpoint.removeprefix('api.')}_{method.lower()}",
                "summary": (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else rule.endpoint,
                "parameters": parameters,
                "responses": {
                    "200": {"description": "OK"},
                    "4XX": {"description": "Refused",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                },
            }
            if not getattr(view, "is_public", False):
                operation["security"] = [{"bearer": []}]
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "voting API", "version": "1"},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }


@bp.get("/openapi.json")
@public
def openapi():
    """This document."""
    return jsonify(build_document(current_app))
