from flask import jsonify

from ..accounts.access import public
from ..api import bp
from ..cycles.api import cycle_summary
from ..extensions import db
from .services import community_cycles, get_community, list_communities


@bp.get("/communities")
@public
def communities():
    """Every community with its sub-district."""
    return jsonify([{"code": c.code, "name": c.name, "street": c.sub_district.name} for c in list_communities(db.session)])


@bp.get("/communities/<code>/cycles")
@public
def cycles_of_community(code):
    """A community's cycles, oldest first."""
    return jsonify([cycle_summary(c) for c in community_cycles(db.session, get_community(db.session, code))])
