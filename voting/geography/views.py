from flask import Blueprint, make_response, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts.access import public
from ..accounts.policy import is_resident_of
from ..database import utcnow
from ..extensions import db
from ..me.services import my_ballot
from ..proposals.ballot import ballot_projects
from ..results.history import community_history
from ..security import safe_referrer
from .services import community_cycles, district_overview, get_community

bp = Blueprint("geography", __name__)


@bp.get("/")
@public
def home():
    """The district: communities by sub-district, their funds, completed projects, open votes."""
    overview, now = district_overview(db.session), utcnow()
    open_votes = sum(1 for _sub, summaries in overview for s in summaries
                     if s.current_cycle and s.current_cycle.is_voting_open(now))
    return render_template("geography/home.html", overview=overview, now=now, open_votes=open_votes)


@bp.get("/c/<code>")
@public
def community(code):
    """A community: its fund, phase and the projects on this year's ballot."""
    place = get_community(db.session, code)
    cycles = community_cycles(db.session, place)
    current = cycles[-1] if cycles else None
    projects = ballot_projects(db.session, current) if current else []
    now = utcnow()
    return render_template("geography/community.html", community=place, cycle=current, cycles=cycles,
                           projects=projects, now=now, resident_here=is_resident_of(current_user, place.id),
                           my_ballot=my_ballot(db.session, current_user, current),
                           history=community_history(db.session, place, now))


@bp.get("/lang/<locale>")
@public
def set_language(locale):
    """Remember the chosen language in a cookie and go back."""
    response = make_response(redirect(safe_referrer() or url_for("geography.home")))
    if locale in ("zh_CN", "en"):
        response.set_cookie("lang", locale, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


@bp.get("/text/<size>")
@public
def set_text_size(size):
    """Remember larger text (or normal text again) in a cookie and go back; works without JavaScript."""
    response = make_response(redirect(safe_referrer() or url_for("geography.home")))
    if size == "large":
        response.set_cookie("text", "large", max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    elif size == "normal":
        response.delete_cookie("text", samesite="Lax", httponly=True)
    return response


@bp.get("/healthz")
@public
def healthz():
    """200 when the app and its database answer."""
    db.session.execute(select(1))
    return {"status": "ok"}
