"""The API's request and answer models: Pydantic v2 types, bound to routes by SpecTree.

A route declares what it takes and what it answers, and SpecTree checks the body on the way in and
builds the OpenAPI 3.1 document (`openapi.py`) from the same declaration:

    @bp.post("/cycles/<int:cycle_id>/proposals")
    @require_roles(Role.RESIDENT, Role.STAFF)
    @validate(json=ProposalIn, resp=answers(201, ProposalCreated, 409))
    @transactional
    def submit(cycle_id):
        body = request_body(ProposalIn)

Field types are made by `checked()` from the readers of `voting/validation.py`: a rule, its code and
its message live there once, for pages and the API alike. Pydantic collects every field's refusal;
the answer is 422 in the one error shape with `fields`, one entry per refused field, the first also
in `code` and `message`. Models refuse fields they do not know (`unknown_field`): a typo such as
`estimatedCost` is an error, never silently dropped.

Successful answers are models too, for the document; the server does not check its own answers
(that would re-read every answer, the cast's too, and turn a committed change into a 500): the
suite's fuzzer checks each answer against the document on a live server (`tests/test_api_fuzz.py`).
Errors are the one `Error` model.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from flask import make_response, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError
from spectree import Response, SpecTree
from spectree.model_adapter.pydantic_adapter import BaseFile
from spectree.plugins.flask_plugin import FlaskPlugin

from ..errors import BadRequest, Invalid
from ..money import AMOUNT
from ..validation import MAX_INTEGER, InvalidField, choice_value, int_value, text_value, utc_time_value, yuan_value
from . import json_body

Upload = BaseFile  # a multipart file, as Werkzeug gives it
MAX_ID = MAX_INTEGER  # ids are `integer` columns (32-bit on PostgreSQL)


class FieldRefusal(BaseModel):
    field: str
    code: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldRefusal] | None = None


class Error(BaseModel):
    """Every refusal: a stable code, a message in the reader's language, and the refused fields."""

    error: ErrorDetail


class Body(BaseModel):
    """A request body: a JSON object with these fields and no others."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Query(BaseModel):
    """A query string: these parameters. Others are ignored (a front end's cache-buster is no error)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class Answer(BaseModel):
    """An answer's JSON."""

    model_config = ConfigDict(extra="forbid")


class InvalidBody(Invalid):
    """A body refused field by field."""

    def __init__(self, refusals: list[FieldRefusal], status: int = 422):
        super().__init__(refusals[0].message, refusals[0].code, status)
        self.fields = refusals


class Label:
    """A field's name for people (lazy, translated when a refusal is written)."""

    def __init__(self, text):
        self.text = text


def checked(read: Callable[[Any, str, str], Any], label, schema: dict, *, required: bool = True) -> Any:
    """A field type that `read(value, field, label)` checks (a reader of `validation.py`, which raises
    `InvalidField` with the rule's code and message), documented in OpenAPI by `schema`. The value
    passes on as sent: the service reads it again with the same reader, so pages and the API keep
    one rule. An optional field (give it a default) also takes null."""
    if not required:
        schema = {"anyOf": [schema, {"type": "null"}]}

    def validate(value, info):
        if value is None and not required:
            return None
        try:
            read(value, info.field_name, str(label))
        except InvalidField as refusal:
            raise PydanticCustomError("refused", refusal.message.replace("{", "{{").replace("}", "}}"),
                                      {"code": refusal.code}) from None
        return value

    return Annotated[Any, PlainValidator(validate), WithJsonSchema(schema), Label(label)]


def text(label, max_length: int, *, required: bool = True) -> Any:
    """Text of at most `max_length` characters (trimmed); empty counts as missing unless optional."""
    schema = {"type": "string", "maxLength": max_length} | ({"minLength": 1} if required else {})
    return checked(lambda value, field, name: text_value(value, field, name, max_length=max_length,
                                                         required=required),
                   label, schema, required=required)


YUAN_PATTERN = f"^{AMOUNT.pattern}$"  # money.parse_yuan's own


def money(label, *, required: bool = True) -> Any:
    """An amount of yuan as a string of digits with at most two decimals (`"35000.50"`)."""
    return checked(yuan_value, label, {"type": "string", "pattern": YUAN_PATTERN, "examples": ["35000.00"]},
                   required=required)


def choice(label, choices, code: str = "bad_choice") -> Any:
    """One of `choices` (an enum's values), refused with `code` naming them all."""
    values = [str(c) for c in choices]
    return checked(lambda value, field, name: choice_value(value, field, name, choices=values, code=code),
                   label, {"type": "string", "enum": values})


def whole(label, minimum: int, maximum: int, *, required: bool = True) -> Any:
    """A whole number (a JSON integer) within [minimum, maximum]."""
    return checked(lambda value, field, name: int_value(value, field, name, minimum=minimum, maximum=maximum,
                                                        required=required),
                   label, {"type": "integer", "minimum": minimum, "maximum": maximum}, required=required)


def _label(model: type[BaseModel] | None, name: str) -> str:
    info = model.model_fields.get(name) if model is not None else None
    for item in info.metadata if info else ():
        if isinstance(item, Label):
            return str(item.text)
    return name


_NOT_TEXT = {"string_type"}
_NOT_NUMBER = {"int_type", "int_parsing", "int_from_float"}
_AT_LEAST = {"greater_than_equal": 0, "greater_than": 1}  # the bound, and what to add to it
_AT_MOST = {"less_than_equal": 0, "less_than": -1}
_KINDS = {"model": _l("an object"), "dict": _l("an object"), "list": _l("a list"), "bool": _l("true or false"),
          "float": _l("a number"), "int": _l("a whole number"), "string": _l("text")}


def _refusal(error: dict, model: type[BaseModel] | None) -> FieldRefusal:
    """One Pydantic error in the API's words (Pydantic's own messages are English only)."""
    location = [str(part) for part in error["loc"]]
    field = ".".join(location) or "body"
    name = location[0] if location else "body"
    label = _label(model, name)
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "refused":  # a reader of validation.py said why
        return FieldRefusal(field=field, code=context["code"], message=error["msg"])
    if kind == "missing":
        return FieldRefusal(field=field, code="missing_" + name, message=_("%(field)s is required.", field=label))
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields) if model is not None else ""
        return FieldRefusal(field=field, code="unknown_field",
                            message=_("%(field)s is not a field of this request; its fields are: %(known)s.",
                                      field=name, known=known))
    if kind in _NOT_TEXT:
        return FieldRefusal(field=field, code="not_text", message=_("%(field)s must be text.", field=label))
    if kind in _NOT_NUMBER:
        return FieldRefusal(field=field, code="not_a_number",
                            message=_("%(field)s must be a whole number.", field=label))
    if kind in _AT_LEAST:
        bound = next(iter(context.values())) + _AT_LEAST[kind]
        return FieldRefusal(field=field, code="out_of_range",
                            message=_("%(field)s must be at least %(n)s.", field=label, n=bound))
    if kind in _AT_MOST:
        bound = next(iter(context.values())) + _AT_MOST[kind]
        return FieldRefusal(field=field, code="out_of_range",
                            message=_("%(field)s must be at most %(n)s.", field=label, n=bound))
    if kind in ("enum", "literal_error"):
        return FieldRefusal(field=field, code="bad_choice",
                            message=_("%(field)s must be one of: %(choices)s.", field=label,
                                      choices=context.get("expected", "")))
    if kind in ("too_long", "too_short"):  # a list's length (a text's is a reader's `refused`)
        bound = context.get("max_length") if kind == "too_long" else context.get("min_length")
        message = (_("%(field)s may hold at most %(n)s items.", field=label, n=bound) if kind == "too_long"
                   else _("%(field)s needs at least %(n)s items.", field=label, n=bound))
        return FieldRefusal(field=field, code="out_of_range", message=message)
    expected = _KINDS.get(kind.split("_")[0])
    if expected is not None and kind.endswith(("_type", "_parsing")):
        return FieldRefusal(field=field, code="bad_type",
                            message=_("%(field)s must be %(kind)s.", field=label, kind=expected))
    return FieldRefusal(field=field, code="invalid", message=_("%(field)s is not valid.", field=label))


def refusal_of(error: ValidationError, model: type[BaseModel] | None) -> InvalidBody:
    return InvalidBody([_refusal(e, model) for e in error.errors(include_url=False, include_input=False)])


class _Plugin(FlaskPlugin):
    """SpecTree's Flask plugin reading bodies the API's way: a JSON object within the size and depth
    bounds (`json_body`), refused as `malformed_json` otherwise (never read as `{}`), and a refused
    field raised as the API's `InvalidBody` naming every field."""

    def request_validation(self, request, query, json, form, headers, cookies):
        if json is not None and request.method not in ("GET", "DELETE") and request.mimetype not in self.FORM_MIMETYPE:
            json_body()  # raises BadRequest before SpecTree reads the (then cached) body; a form goes to `form`
        try:
            super().request_validation(request, query, json, form, headers, cookies)
        except ValidationError as error:
            model = next((m for m in (json, query, form) if m is not None and m.__name__ == error.title), None)
            raise refusal_of(error, model) from None

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        """The view's answer as it is: its model documents it, the fuzzer checks it (see above)."""
        return make_response(resp), None

    def fill_form(self, request) -> dict:
        """Form fields, and files always as lists (SpecTree gives one file bare)."""
        return {**request.form.to_dict(), **{key: request.files.getlist(key) for key in request.files}}


spec = SpecTree(
    backend=_Plugin, mode="strict", annotations=False, validation_error_status=422,
    validation_error_model=Error, naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    title="voting API", version="1", openapi_version="3.1.0", path="api/v1/docs",
)


validate = spec.validate


# Every route may answer these: 400 a body that is not a JSON object, 413 one too large, 422 a
# refused field, 429 too many requests.
COMMON_REFUSALS = (400, 413, 422, 429)


def answers(status: int, model: type[BaseModel] | None, *refusals: int) -> Response:
    """The route's answers: `model` with `status` when it succeeds (None: no JSON body), the API's
    `Error` for each refusal status. 401 (without a valid token) and 404 (an unknown id in the path)
    are added by `openapi.py` from the route itself."""
    codes: dict[str, Any] = {f"HTTP_{code}": Error for code in sorted({*refusals, *COMMON_REFUSALS})}
    if model is None:
        return Response(f"HTTP_{status}", **codes)
    return Response(**{f"HTTP_{status}": model}, **codes)


def request_body(model: type[BaseModel]) -> BaseModel:
    """The body the route's model read (SpecTree keeps it on the request)."""
    body = request.context.json
    if not isinstance(body, model):
        raise BadRequest(_("The request body must be a JSON object."), "malformed_json")
    return body


def request_query(model: type[BaseModel]) -> BaseModel:
    """The query string the route's model read."""
    query = request.context.query
    assert isinstance(query, model)
    return query


# An amount of yuan in an answer: two decimals, negative for a reversal or a ledger below zero.
YUAN_ANSWER_PATTERN = r"^-?(0|[1-9][0-9]*)\.[0-9]{2}$"
Yuan = Annotated[str, Field(pattern=YUAN_ANSWER_PATTERN, examples=["35000.00"])]
# A day, YYYY-MM-DD (Beijing time where it is a local day).
Day = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2025-05-01"])]
# A moment in UTC, ISO 8601 with Z.
Moment = Annotated[str, Field(json_schema_extra={"format": "date-time"}, examples=["2025-05-01T01:00:00Z"])]


def time_with_zone(label) -> Any:
    """An ISO 8601 time with its zone (`2026-05-01T09:00:00+08:00`, `2026-05-01T01:00:00Z`)."""
    return checked(utc_time_value, label, {"type": "string", "format": "date-time",
                                           "examples": ["2026-05-01T01:00:00Z"]})


class _Described(Response):
    """SpecTree's `Response`, with what its models cannot say about an answer: a body that is not JSON
    (a file), or the headers it carries."""

    def __init__(self, *codes, more: dict[int, dict], **models):
        super().__init__(*codes, **models)
        self.more = more

    def generate_spec(self, naming_strategy=lambda model: model.__name__) -> dict[str, Any]:
        responses = super().generate_spec(naming_strategy)
        for status, more in self.more.items():
            responses[str(status)].update(more)
        return responses


def file_answers(status: int, media_type: str, description: str, *refusals: int) -> Response:
    """The answers of a route that sends a file (`media_type`, e.g. text/csv) when it succeeds. Its
    body is not checked (the route may stream it: give the route `skip_validation=True`)."""
    codes: dict[str, Any] = {f"HTTP_{code}": Error for code in sorted({*refusals, *COMMON_REFUSALS})}
    content = {"content": {media_type: {"schema": {"type": "string"}}}, "description": description}
    return _Described(f"HTTP_{status}", more={status: content}, **codes)


def answers_with_headers(status: int, model: type[BaseModel], headers: dict[str, dict],
                         *refusals: int) -> Response:
    """`answers()`, and the `headers` (name: OpenAPI header object) the success answer may carry."""
    codes: dict[str, Any] = {f"HTTP_{code}": Error for code in sorted({*refusals, *COMMON_REFUSALS})}
    return _Described(more={status: {"headers": headers}}, **{f"HTTP_{status}": model}, **codes)
