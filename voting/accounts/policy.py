"""Who may do what, where: every access rule of the app, one predicate each, with the `require_*`
wrapper that refuses in its words beside it (lemur's `auth/permissions.py`).

Services call these (they take the acting user as an argument); views only declare the roles a
route is for with `access.require_roles`, and show or hide what a predicate says. A user is an
account (`User`), the API's `accounts.services.Bearer`, or Flask-Login's anonymous user (which has
no role: every predicate asks `is_authenticated` first where an anonymous caller can reach it).

This module imports no services and no models (only the enums, the errors and the clock), so
anything may import it.
"""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _

from ..database import utcnow
from ..enums import BALLOT_STATUSES, DECIDED_STATUSES, DONE, Channel, Phase, Role
from ..errors import Conflict, Forbidden, Unauthorized

# --- Community scope -------------------------------------------------------------------------------


def can_act_in(user, community_id: int) -> bool:
    """Whether the account's scope covers the community (district roles cover all)."""
    return user.community_id is None or user.community_id == community_id


def require_scope(user, community_id: int) -> None:
    """:raises Forbidden: for staff, grid workers and residents of another community."""
    if not can_act_in(user, community_id):
        raise Forbidden(_("This belongs to another community."))


def is_district_admin(user) -> bool:
    return bool(user.is_authenticated and user.role == Role.ADMIN)


def is_resident_of(user, community_id: int) -> bool:
    """Whether the user is a resident account of exactly this community (who may vote there)."""
    return bool(user.is_authenticated and user.role == Role.RESIDENT and user.community_id == community_id)


def is_staff_of(user, community_id: int) -> bool:
    """Whether the user is staff of exactly this community."""
    return bool(user.is_authenticated and user.role == Role.STAFF and user.community_id == community_id)


def require_staff_of(user, community_id: int) -> None:
    """:raises Forbidden: unless the user is staff of this community."""
    if not is_staff_of(user, community_id):
        raise Forbidden(_("Only the staff of this community may do this."), "not_community_staff")


def can_oversee(user, community_id: int) -> bool:
    """Whether the user may see everything of the community's cycles (its staff, the district admin)."""
    return is_staff_of(user, community_id) or is_district_admin(user)


def require_oversight(user, community_id: int) -> None:
    """:raises Forbidden: unless the user is staff of this community or the district admin."""
    if not can_oversee(user, community_id):
        raise Forbidden(_("Only the staff of this community may see this."), "not_community_staff")


# --- Cycles ----------------------------------------------------------------------------------------


def require_cycle_opener(user, community_id: int) -> None:
    """:raises Forbidden: `not_community_staff` unless staff of the community or the district admin."""
    if not can_oversee(user, community_id):
        raise Forbidden(_("Only the staff of this community or the district admin may open a cycle."),
                        "not_community_staff")


def require_fund_setter(user) -> None:
    """:raises Forbidden: `fund_set_by_admin` unless the district admin."""
    if not is_district_admin(user):
        raise Forbidden(_("Only the district admin sets a community's fund."), "fund_set_by_admin")


# --- Proposals -------------------------------------------------------------------------------------


def is_author(user, project) -> bool:
    return bool(user.is_authenticated and project.submitted_by_id == user.id)


def can_see_proposal(user, project) -> bool:
    """Decided proposals are public; one awaiting review only for its author and the community's staff."""
    return (project.status in DECIDED_STATUSES or is_author(user, project)
            or can_oversee(user, project.cycle.community_id))


def require_visible(user, project) -> None:
    """:raises Unauthorized: for an anonymous caller; :raises Forbidden: for anyone else not allowed."""
    if not can_see_proposal(user, project):
        if not user.is_authenticated:
            raise Unauthorized(_("Please sign in first."))
        raise Forbidden(_("This proposal is not public yet."), "proposal_not_public")


def photos_are_public(project) -> bool:
    """A proposal's photos are public once it is on the ballot."""
    return project.status in BALLOT_STATUSES


def can_see_photos(user, project) -> bool:
    """Photos are public once the proposal is on the ballot; before that, author and staff only."""
    return photos_are_public(project) or is_author(user, project) or can_oversee(user, project.cycle.community_id)


def require_photos_visible(user, project) -> None:
    """:raises Unauthorized: for an anonymous caller; :raises Forbidden: for anyone else not allowed."""
    if not can_see_photos(user, project):
        if not user.is_authenticated:
            raise Unauthorized(_("Please sign in first."))
        raise Forbidden(_("This photo is not public yet."), "photo_not_public")


def require_proposer(user, cycle, now: datetime | None = None) -> None:
    """May this user propose in this cycle now?

    :raises Forbidden: `not_eligible` unless a resident (still living there) or staff of the community.
    :raises Conflict: `not_collecting` outside the collection phase.
    """
    if not (user.is_authenticated and user.role in (Role.RESIDENT, Role.STAFF)
            and user.community_id == cycle.community_id):
        raise Forbidden(_("Only residents and staff of this community may propose projects here."),
                        "not_eligible")
    if user.role == Role.RESIDENT and user.resident is not None and not user.resident.is_active:
        raise Forbidden(_("Your registration shows you have moved away from this community."), "not_eligible")
    if cycle.current_phase(now or utcnow()) != Phase.COLLECTION:
        raise Conflict(_("This cycle is not collecting proposals any more."), "not_collecting")


def has_proposal_limit(user) -> bool:
    """Residents make a limited number of proposals a cycle; staff entering paper proposals do not."""
    return user.role == Role.RESIDENT


# --- Voting ----------------------------------------------------------------------------------------


def is_voter(user) -> bool:
    """Whether the account may cast a ballot at all: an enabled resident account linked to the register
    (where and in which vote is the electorate's rule, `ballots.services.elector`)."""
    return user.role == Role.RESIDENT and user.resident is not None and user.is_enabled


def not_a_voter() -> Forbidden:
    """The refusal of an account that `is_voter` refuses: `not_eligible`."""
    return Forbidden(_("Only a resident in the register of this community can vote."), "not_eligible")


def require_voter(user) -> None:
    """:raises Forbidden: `not_eligible` unless `is_voter`."""
    if not is_voter(user):
        raise not_a_voter()


def require_resident(user) -> None:
    """:raises Forbidden: `not_eligible` for any account but a resident's (their own ballot)."""
    if user.role != Role.RESIDENT:
        raise Forbidden(_("Only a resident in the register of this community can vote."), "not_eligible")


def is_grid_worker_of(user, grid_id: int | None) -> bool:
    return bool(user.role == Role.GRID_WORKER and user.grid_id == grid_id)


def may_enter_ballot(worker, channel: str, resident) -> bool:
    """Whether the worker records this resident's assisted or paper ballot: the grid's worker, or for
    paper also the staff of the resident's community."""
    own_community = is_staff_of(worker, resident.community_id)
    return is_grid_worker_of(worker, resident.grid_id) or (channel == Channel.PAPER and own_community)


def require_own_grid(worker, resident, channel: str = Channel.ASSISTED) -> None:
    """:raises Forbidden: `not_your_grid` unless `may_enter_ballot`."""
    if not may_enter_ballot(worker, channel, resident):
        raise Forbidden(_("You can record ballots only for residents of your own grid."), "not_your_grid")


def may_enter_paper(user, grid) -> bool:
    """Paper ballots of a grid are entered by its grid worker or the community's staff."""
    return is_grid_worker_of(user, grid.id) or is_staff_of(user, grid.community_id)


def require_paper_scope(user, grid) -> None:
    """:raises Forbidden: `not_your_grid` unless `may_enter_paper`."""
    if not may_enter_paper(user, grid):
        raise Forbidden(_("Paper ballots of this grid are entered by its grid worker or the community's "
                          "staff."), "not_your_grid")


def require_paper_decider(user, community_id: int) -> None:
    """:raises Forbidden: `staff_decide` unless staff of the community (a paper of who already voted)."""
    if not is_staff_of(user, community_id):
        raise Forbidden(_("Only the community's staff decide about a paper ballot of a resident who already "
                          "voted."), "staff_decide")


def can_see_worker_counts(user, community_id: int) -> bool:
    """How many ballots each worker entered: the community's staff, the district admin and auditors."""
    return user.role in (Role.STAFF, Role.ADMIN, Role.AUDITOR) and can_act_in(user, community_id)


def require_worker_counts(user, community_id: int) -> None:
    """:raises Forbidden: unless `can_see_worker_counts`."""
    if not can_see_worker_counts(user, community_id):
        raise Forbidden(_("Only the community's staff, the district admin and auditors see this."))


def require_door_list(worker, community_id: int) -> None:
    """Only a grid worker of the community sees the doors to knock on in their grid.

    :raises Forbidden: `not_your_grid`.
    """
    if worker.role != Role.GRID_WORKER or worker.community_id != community_id or worker.grid_id is None:
        raise Forbidden(_("Only the grid workers of this community see their grid's list."), "not_your_grid")


# --- Following the money ---------------------------------------------------------------------------


def can_manage(user, project) -> bool:
    """Whether the user records this project's progress: staff of its community."""
    return is_staff_of(user, project.cycle.community_id)


def require_manager(user, project) -> None:
    """:raises Forbidden: when the user is not staff, or is staff of another community."""
    if user.role != Role.STAFF:
        raise Forbidden(_("Only the community's staff record a project's progress."))
    require_scope(user, project.cycle.community_id)


def require_overrun_approver(user) -> None:
    """:raises Forbidden: unless the district admin (spending beyond a fund)."""
    if not is_district_admin(user):
        raise Forbidden(_("Only the district admin approves spending beyond the fund."))


def may_rate(user, project) -> bool:
    """Whether to offer the rating form: a resident of the community, the project completed."""
    return bool(user.is_authenticated and user.role == Role.RESIDENT and user.resident_id
                and user.community_id == project.cycle.community_id and project.status in DONE)


def require_rater(user, project) -> None:
    """A resident account of the project's community rates it (the service checks the register too).

    :raises Forbidden: for anyone else.
    """
    if user.role != Role.RESIDENT or user.resident_id is None:
        raise Forbidden(_("Only residents of the community rate its projects."))
    require_scope(user, project.cycle.community_id)


# --- The public notice (公示) of a result -----------------------------------------------------------


def may_object(user, community_id: int) -> bool:
    """Whether the user may object to the community's published result: an enabled account of a
    resident registered, and still living, in the community."""
    if not (user.is_authenticated and user.role == Role.RESIDENT and user.is_enabled
            and user.community_id == community_id):
        return False
    resident = user.resident
    return resident is not None and resident.is_active and resident.community_id == community_id


def require_objector(user, community_id: int) -> None:
    """:raises Forbidden: `not_a_resident_here` unless `may_object`."""
    if not may_object(user, community_id):
        raise Forbidden(_("Only residents living in this community may object to its result."),
                        "not_a_resident_here")


def may_answer_objections(user, community_id: int) -> bool:
    """Whether the user answers objections to the community's result in public: its staff."""
    return is_staff_of(user, community_id)


def require_objection_answerer(user, community_id: int) -> None:
    """:raises Forbidden: `not_community_staff` unless `may_answer_objections`."""
    if not may_answer_objections(user, community_id):
        raise Forbidden(_("Only the staff of this community answer objections to its result."),
                        "not_community_staff")
