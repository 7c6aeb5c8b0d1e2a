from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.access import public, require_roles
from ..accounts.policy import can_see_photos, photos_are_public
from ..database import transactional, utcnow
from ..enums import Role
from ..errors import NotFound
from ..extensions import db
from ..storage import send
from ..webforms import handle_form, saved
from .forms import ProposalForm, read_uploads
from .photos import MAX_BYTES, MAX_PHOTOS, is_photo_name, load_photo
from .services import (
    collecting_cycle, cycle_to_propose_in, my_proposals, photo_for, submit_proposal, visible_project,
)

bp = Blueprint("proposals", __name__)


@bp.route("/cycles/<int:cycle_id>/propose", methods=["GET", "POST"])
@require_roles(Role.RESIDENT, Role.STAFF)
@transactional
def propose(cycle_id):
    """Propose a project for the community's fund (a phone-sized form)."""
    cycle = cycle_to_propose_in(db.session, current_user, cycle_id)
    form = ProposalForm()

    def again(status: int):  # also the GET (200)
        photos_dropped = bool(form.errors) and any(f and f.filename for f in form.photos.data or [])
        page = render_template("proposals/new.html", form=form, cycle=cycle, max_photos=MAX_PHOTOS,
                               max_mb=MAX_BYTES // 2**20, photos_dropped=photos_dropped)
        return page, status

    return handle_form(
        form, lambda: submit_proposal(db.session, current_user, cycle, form.data, read_uploads(form.photos.data)),
        done=lambda _r: saved(_("Thank you. Your proposal is in; staff will review it and you can follow it here."),
                              url_for("proposals.mine")),
        again=again)


@bp.errorhandler(413)
def too_large(_error):
    """A form whose photos together pass the request limit: say what to do, nothing is saved."""
    message = _("The photos are too large together. Choose fewer or smaller photos and send the form again.")
    return render_template("errors.html", message=message, status=413), 413


@bp.get("/my/proposals")
@require_roles(Role.RESIDENT, Role.STAFF)
def mine():
    """The signed-in user's proposals with what became of them."""
    now = utcnow()
    return render_template("proposals/mine.html", projects=my_proposals(db.session, current_user), now=now,
                           collecting=collecting_cycle(db.session, current_user.community_id, now))


@bp.get("/proposals/<int:project_id>")
@public
def show(project_id):
    """A proposal: public once decided; before that only for its author and the community's staff."""
    project = visible_project(db.session, current_user, project_id)
    return render_template("proposals/show.html", project=project, cycle=project.cycle,
                           show_photos=can_see_photos(current_user, project), now=utcnow())


@bp.get("/photos/<filename>")
@public
def photo(filename):
    """A stored proposal photo, only ever as a JPEG, only to those who may see it."""
    if not is_photo_name(filename):
        raise NotFound(_("There is no such photo."), "unknown_photo")
    project = photo_for(db.session, current_user, filename)
    blob = load_photo(db.session, filename)
    if blob is None:
        raise NotFound(_("There is no such photo."), "unknown_photo")
    return send(blob, public=photos_are_public(project), max_age=300)
