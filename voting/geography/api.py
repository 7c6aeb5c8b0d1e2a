from flask import jsonify
from pydantic import RootModel

from ..accounts.access import public
from ..api import bp
from ..api.schema import Answer, answers, validate
from ..cycles.api import CycleSummary, cycle_summary
from ..extensions import db
from .services import community_cycles, get_community, list_communities


class CommunityItem(Answer):
    code: str
    name: str
    street: str  # its sub-district's name


class CommunityList(RootModel[list[CommunityItem]]):
    pass


class CommunityCycles(RootModel[list[CycleSummary]]):
    pass


@bp.get("/communities")
@public
@validate(resp=answers(200, CommunityList))
def communities():
    """Every community with its sub-district."""
    return jsonify([{"code": c.code, "name": c.name, "street": c.sub_district.name} for c in list_communities(db.session)])


@bp.get("/communities/<code>/cycles")
@public
@validate(resp=answers(200, CommunityCycles))
def cycles_of_community(code):
    """A community's cycles, oldest first."""
    return jsonify([cycle_summary(c) for c in community_cycles(db.session, get_community(db.session, code))])
