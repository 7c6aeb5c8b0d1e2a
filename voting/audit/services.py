"""Writing and reading the action log."""
from __future__ import annotations

import getpass
from dataclasses import dataclass

from sqlalchemy import select

from ..database import utcnow
from .chainlog import GENESIS, detail_json, link
from .models import ActionLogEntry, ActionLogHead


def log_action(session, user, action: str, community=None, **detail) -> ActionLogEntry:
    """Append an entry for `user` (None: the command line) doing `action` (in `community`), chained
    to the last one."""
    return log_actions(session, user, community, [(action, detail)])[0]


@dataclass(frozen=True)
class CommandLine:
    """The actor of an action taken with the `voting` command (no account: whoever runs it on the
    server), named after the operating system's user."""

    username: str
    id: None = None
    role: str = "command_line"

    @classmethod
    def current(cls) -> CommandLine:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            who = "unknown"
        return cls(f"command line: {who}"[:80])


def log_actions(session, user, community, actions: list[tuple[str, dict]]) -> list[ActionLogEntry]:
    """Append several entries for `user` (None: the command line) in `community`, in order, taking
    the chain's head once (an import logs one entry per resident); the entries."""
    user = user or CommandLine.current()
    head = session.scalar(select(ActionLogHead).where(ActionLogHead.id == 1).with_for_update())
    if head is None:
        head = ActionLogHead(id=1, seq=0, chain_hash=GENESIS)
        session.add(head)
    at, written = utcnow(), []
    for action, detail in actions:
        entry = ActionLogEntry(
            seq=head.seq + 1, at=at, actor_id=user.id, actor=user.username, role=user.role, action=action,
            community_id=community.id if community else None, community=community.code if community else "",
            detail=detail_json(detail),
        )
        entry.chain_hash = link(head.chain_hash, as_row(entry))
        head.seq, head.chain_hash = entry.seq, entry.chain_hash
        session.add(entry)
        written.append(entry)
    session.flush()
    return written


def as_row(entry: ActionLogEntry) -> dict:
    """The entry as the exported, verifiable row."""
    return {"seq": entry.seq, "at": entry.at.isoformat(timespec="microseconds") + "Z", "actor": entry.actor,
            "role": entry.role, "action": entry.action, "community": entry.community, "detail": entry.detail,
            "chain_hash": entry.chain_hash}


def entries(session, community=None, limit: int | None = None):
    stmt = select(ActionLogEntry).order_by(ActionLogEntry.seq.desc() if limit else ActionLogEntry.seq)
    if community is not None:
        stmt = stmt.where(ActionLogEntry.community_id == community.id)
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt)
