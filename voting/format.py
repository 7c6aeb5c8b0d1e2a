"""How values read on pages: money in yuan, local times, and the labels of codes."""
from __future__ import annotations

import re
from datetime import UTC

import qrcode
from flask import Flask, has_request_context, request
from flask_babel import format_date, format_datetime, get_locale, lazy_gettext as _l
from markupsafe import Markup, escape
from qrcode.image.svg import SvgPathImage

from .money import yuan_grouped

CATEGORY_LABELS = {
    "water": _l("Water supply"),
    "power": _l("Electricity"),
    "road": _l("Roads"),
    "gas": _l("Gas"),
    "network": _l("Network"),
    "culture": _l("Culture"),
    "sports": _l("Sports"),
    "elderly": _l("Elderly care"),
    "childcare": _l("Childcare"),
    "shopping": _l("Shopping"),
    "parking": _l("Parking"),
    "greening": _l("Greening"),
    "lighting": _l("Lighting"),
    "drainage": _l("Drainage"),
    "other": _l("Other"),
}

PHASE_LABELS = {
    "collection": _l("Collecting proposals"),
    "review": _l("Under review"),
    "voting": _l("Voting open"),
    "results": _l("Results published"),
    "implementation": _l("Being built"),
    "closed": _l("Closed"),
}

STATUS_LABELS = {
    "submitted": _l("Submitted"),
    "on_ballot": _l("On the ballot"),
    "rejected": _l("Rejected"),
    "merged": _l("Merged"),
    "funded": _l("Funded"),
    "not_funded": _l("Not funded"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "accepted": _l("Accepted"),
}

RULE_LABELS = {
    "greedy": _l("most votes first; a project that does not fit is skipped"),
    "greedy-no-skip": _l("most votes first, stopping at the first that does not fit"),
    "greedy-threshold": _l("most votes first, among projects above the threshold"),
    "mes": _l("the Method of Equal Shares"),
    "mes+greedy": _l("the Method of Equal Shares, then most votes first for what is left"),
}

METHOD_LABELS = {
    "approval": _l("Approval: tick the projects you support"),
    "knapsack": _l("Budget: choose projects within the fund"),
    "cumulative": _l("Points: spread your points"),
    "choose_one": _l("Choose one project"),
}


VOTERS_LABELS = {
    "adults": _l("Every resident aged 18 or over on the day voting opens has a vote."),
    "households": _l("One vote per household (the address): the first member of the household to vote "
                     "votes for it."),
}


def local_time(value, fmt: str = "medium") -> str:
    """A stored UTC time shown in the user's time zone (Asia/Shanghai by default)."""
    if value is None:
        return ""
    return format_datetime(value.replace(tzinfo=UTC), fmt)


def local_date(value, fmt: str = "long") -> str:
    """A stored UTC time's day in the user's time zone (a publication date, without the time)."""
    if value is None:
        return ""
    return format_date(value.replace(tzinfo=UTC), fmt)


def qr_svg(text: str, label: str | None = None) -> Markup:
    """`text` as an inline SVG QR code, sized by CSS (`svg.qr`): no script, no external request.
    With a label it is an image of that name; without, hidden from screen readers (say it in text)."""
    svg = qrcode.make(text, image_factory=SvgPathImage, box_size=10, border=2).to_string(encoding="unicode")
    named = f'role="img" aria-label="{escape(label)}"' if label else 'aria-hidden="true"'
    return Markup(re.sub(r'^<svg width="[^"]*" height="[^"]*"', f'<svg class="qr" {named}', svg))


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["yuan"] = yuan_grouped
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.globals.update(
        current_locale=lambda: str(get_locale() or "zh_CN"),
        large_text=lambda: has_request_context() and request.cookies.get("text") == "large",
        CATEGORY_LABELS=CATEGORY_LABELS, PHASE_LABELS=PHASE_LABELS,
        STATUS_LABELS=STATUS_LABELS, METHOD_LABELS=METHOD_LABELS, RULE_LABELS=RULE_LABELS,
        VOTERS_LABELS=VOTERS_LABELS,
    )
