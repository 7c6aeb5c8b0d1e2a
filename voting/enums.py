"""The app's value lists: roles, cycle phases, project statuses and ballot channels, each written
once, and the CHECK constraint text the models build from them.

One module at the package's root that imports nothing of the app, so every model and
`accounts.policy` can import it without an import circle. The members are strings (`StrEnum`): they
compare equal to the values read from the database, and are stored, shown and sent as those values.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    """What an account may do (SPEC §2); who may do what where is `accounts.policy`."""

    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    STAFF = "staff"
    ADMIN = "admin"
    AUDITOR = "auditor"


# The roles scoped to exactly one community; the others act for the whole district.
COMMUNITY_ROLES = (Role.RESIDENT, Role.GRID_WORKER, Role.STAFF)


class Phase(StrEnum):
    """A cycle's phases, in order: a cycle moves one step forward at a time."""

    COLLECTION = "collection"
    REVIEW = "review"
    VOTING = "voting"
    RESULTS = "results"
    IMPLEMENTATION = "implementation"
    CLOSED = "closed"


class ProjectStatus(StrEnum):
    """One row from a resident's proposal to an accepted project: its review, the vote, the work."""

    SUBMITTED = "submitted"
    ON_BALLOT = "on_ballot"
    REJECTED = "rejected"
    MERGED = "merged"
    FUNDED = "funded"
    NOT_FUNDED = "not_funded"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ACCEPTED = "accepted"


# On the ballot, or after it.
BALLOT_STATUSES = (ProjectStatus.ON_BALLOT, ProjectStatus.FUNDED, ProjectStatus.NOT_FUNDED, ProjectStatus.IN_PROGRESS,
                   ProjectStatus.COMPLETED, ProjectStatus.ACCEPTED)
# Decided proposals are public (title, decision, public reason); photos only once on the ballot.
DECIDED_STATUSES = (ProjectStatus.REJECTED, ProjectStatus.MERGED, *BALLOT_STATUSES)
# Not (yet) on the ballot: no reviewed cost.
UNREVIEWED_STATUSES = (ProjectStatus.SUBMITTED, ProjectStatus.REJECTED, ProjectStatus.MERGED)
# The statuses a funded project passes through, in order; each step goes one forward.
PROGRESS = (ProjectStatus.FUNDED, ProjectStatus.IN_PROGRESS, ProjectStatus.COMPLETED, ProjectStatus.ACCEPTED)
DONE = (ProjectStatus.COMPLETED, ProjectStatus.ACCEPTED)


class Channel(StrEnum):
    """How a ballot came in: cast by the resident, entered with a grid worker, or typed from paper."""

    ONLINE = "online"
    ASSISTED = "assisted"
    PAPER = "paper"


def sql_value(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    """`column IN ('a', 'b', …)`, in the order of `values`: a CHECK constraint's text."""
    return f"{column} IN ({', '.join(sql_value(v) for v in values)})"
