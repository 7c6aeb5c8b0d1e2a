"""The resident registry: ID numbers are checked, then kept only as a keyed hash."""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from ..accounts.policy import require_oversight, require_staff_of
from ..audit.services import log_action, log_actions
from ..errors import Conflict, Invalid, NotFound
from ..geography.models import Community, Grid
from .idcheck import hash_id_last6
from .models import RESIDENT_STATUSES, Resident, ResidentHistory

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a NUL, tab or line break in a cell (Alt+Enter in Excel)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """The check character of a resident ID number (GB 11643-1999)."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def validate_id_number(number: str) -> str:
    """Return the normalised 18-character ID number.

    :raises Invalid: when it is not 17 digits and a matching check character.
    """
    number = (number or "").strip().upper()
    if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        raise Invalid(_("An ID number has 17 digits and a check digit or X (18 characters)."), "bad_id_number")
    if id_check_char(number[:17]) != number[17]:
        raise Invalid(_("The ID number's check digit does not match; please check it."), "bad_id_number")
    return number


def address_order(resident) -> tuple:
    """Sort residents as doors come: by address with numbers in number order (2栋 before 10栋), then name."""
    parts = re.split(r"(\d+)", resident.address or "")
    return tuple((0, int(p), "") if p.isdecimal() else (1, 0, p) for p in parts if p), resident.name, resident.id


def hash_id_number(secret_key: str, number: str) -> str:
    """The keyed hash stored instead of the ID number (HMAC-SHA256 with the server's secret)."""
    key = hmac.new(secret_key.encode(), b"resident-id-number", hashlib.sha256).digest()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def household_key(secret_key: str, community_id: int, address: str) -> str:
    """The household of an address in a community: a keyed hash of the address as typed, with
    spaces gone, full-width characters made plain and letters in one case ("1栋 101" = "1栋101")."""
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", address or "")).casefold()
    key = hmac.new(secret_key.encode(), b"resident-household", hashlib.sha256).digest()
    return hmac.new(key, f"{community_id}:{normal}".encode(), hashlib.sha256).hexdigest()[:32]


def birth_date(number: str) -> date:
    """The birth date written in a (validated) ID number, characters 7 to 14 (YYYYMMDD).

    :raises Invalid: bad_id_number when they are not a date.
    """
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise Invalid(_("The ID number's birth date (characters 7 to 14) is not a date; please check it."),
                      "bad_id_number") from None


def adult_on(born: date, registered_on: date) -> date | None:
    """The day someone born on `born` turns 18, if that is after `registered_on`; None for someone of
    age when registered (nothing more is kept: the rule needs nothing more)."""
    try:
        eighteen = born.replace(year=born.year + 18)
    except ValueError:  # born on 29 February: of age on 1 March
        eighteen = date(born.year + 18, 3, 1)
    return eighteen if eighteen > registered_on else None


def local_day(moment: datetime) -> date:
    """The day in Beijing of a naive UTC time."""
    return moment.replace(tzinfo=UTC).astimezone(LOCAL_ZONE).date()


def change_facts(session, resident, now: datetime, **facts) -> bool:
    """Change the resident's electorate facts (`community_id`, `status`, `household`), keeping the
    version they replace, with its period, in `ResidentHistory`; whether anything changed."""
    with session.no_autoflush:  # a new grid may wait for its new community: flushed together
        changed = {k: v for k, v in facts.items() if getattr(resident, k) != v}
        if not changed:
            return False
        session.add(ResidentHistory(resident_id=resident.id, community_id=resident.community_id,
                                    status=resident.status, household=resident.household,
                                    valid_from=resident.facts_since, valid_until=max(now, resident.facts_since)))
        for name, value in changed.items():
            setattr(resident, name, value)
        resident.facts_since = max(now, resident.facts_since)
    return True


class RegistryRejected(Exception):
    """The registry file was refused as a whole; `problems` lists (row number, message)."""
    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


SHOWN_FIELDS = ("name", "grid", "address", "phone")  # what a preview shows of a change


@dataclass(frozen=True)
class NewResident:
    row: int
    name: str
    grid: str
    grid_id: int
    address: str
    phone: str | None
    id_hash: str
    adult_on: date | None
    id_last6_hash: str


@dataclass(frozen=True)
class ResidentChange:
    """A registered resident whose row differs: `fields` maps a shown field to (before, after);
    `kind` is `changed`, `returning` (marked moved in this community, listed again) or `moving_in`
    (marked moved in another community, `from_community`)."""
    row: int
    resident: object
    kind: str
    fields: dict
    from_community: str = ""


@dataclass
class ImportPlan:
    """What importing a registry file would do; nothing is written until `apply_import`."""
    community: object
    new: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    moved_away: list = field(default_factory=list)  # active residents of the community not in the file
    unchanged: int = 0
    # Not shown: a hash under a rotation's earlier key, the household under another key, or the
    # age unknown since before ages were kept (resident, {column: value}); written with the rest.
    refresh: list = field(default_factory=list)

    @property
    def moving_in(self) -> list:
        return [c for c in self.changed if c.kind == "moving_in"]

    @property
    def counts(self) -> dict:
        return {"new": len(self.new), "changed": len(self.changed) - len(self.moving_in),
                "moving_in": len(self.moving_in), "moved_away": len(self.moved_away), "unchanged": self.unchanged}

    @property
    def has_changes(self) -> bool:
        return bool(self.new or self.changed or self.moved_away or self.refresh)

    def digest(self) -> str:
        """A hash of exactly what applying would write: a confirmed preview is applied only if the
        registry still gives the same plan."""
        lines = [f"community {self.community.id}"]
        lines += [f"new {n.id_hash} {n.grid_id} {n.name} {n.address} {n.phone} {n.adult_on}" for n in self.new]
        lines += [f"{c.kind} {c.resident.id} {sorted(c.fields.items())}" for c in self.changed]
        lines += [f"moved {r.id}" for r in self.moved_away]
        lines += [f"refresh {r.id} {sorted(values.items())}" for r, values in self.refresh]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def plan_import(session, community, rows, keys: list[str], now: datetime) -> ImportPlan:
    """Compare a registry file with the community's registry, matching rows by ID number (under
    the current key `keys[0]` or an earlier one of a rotation). Reads only.

    A row is new, changed (name, grid, address, phone), unchanged, returning (marked moved here) or
    moving in (marked moved in another community); an active resident of the community the file
    does not list is proposed as moved away.

    :raises RegistryRejected: naming each bad row: a bad ID number, an unknown grid, the same ID
        number on two rows (both named), a missing name or address, over-long text, a resident
        marked deceased, or living in another community (its staff mark them moved first).
    """

    grids = {g.code: g.id for g in session.scalars(select(Grid).where(Grid.community_id == community.id))}
    problems, checked, seen = [], [], {}
    for row in rows:
        values = {k: " ".join(_CONTROL.sub(" ", v).split()) for k, v in row.values.items()}  # one line of text
        row_problems = []
        for column, limit in (("name", 64), ("address", 200), ("phone", 32)):
            if len(values[column]) > limit:
                row_problems.append(_("%(column)s is longer than %(n)d characters", column=column, n=limit))
        if not values["name"]:
            row_problems.append(_("name is empty"))
        if not values["address"]:
            row_problems.append(_("address is empty"))
        if values["grid"] not in grids:
            row_problems.append(_("grid '%(grid)s' is not a grid of %(community)s",
                                  grid=values["grid"], community=community.code))
        hashes, born, last6 = [], None, None
        try:
            number = validate_id_number(values["id_number"])
            born = birth_date(number)
            hashes = [hash_id_number(key, number) for key in keys]
            last6 = hash_id_last6(keys[0], number)  # what a resident types to activate their account
        except Invalid as error:
            row_problems.append(error.message)
        if hashes and hashes[0] in seen:
            row_problems.append(_("the same ID number is on row %(row)d", row=seen[hashes[0]]))
        elif hashes:
            seen[hashes[0]] = row.number
        if row_problems:
            problems.extend((row.number, problem) for problem in row_problems)
        else:
            checked.append((row.number, values, hashes, born, last6))
    if not rows:
        problems.append((1, _("the file has no residents")))

    ours = list(session.scalars(select(Resident).where(Resident.community_id == community.id)
                                .options(selectinload(Resident.grid))))
    by_hash = {r.id_hash: r for r in ours}
    wanted = [h for _n, _v, hashes, _b, _l in checked for h in hashes if h not in by_hash]
    for start in range(0, len(wanted), 500):
        by_hash.update((r.id_hash, r) for r in session.scalars(
            select(Resident).where(Resident.id_hash.in_(wanted[start:start + 500]))))
    communities = dict(session.execute(select(Community.id, Community.name)).all())

    plan, listed = ImportPlan(community), set()
    today, key = local_day(now), keys[0]
    for number, values, hashes, born, last6 in checked:
        resident = next((by_hash[h] for h in hashes if h in by_hash), None)
        phone = values["phone"] or None
        household = household_key(key, community.id, values["address"])
        if resident is None:
            plan.new.append(NewResident(number, values["name"], values["grid"], grids[values["grid"]],
                                        values["address"], phone, hashes[0], adult_on(born, today), last6))
            continue
        listed.add(resident.id)
        if resident.status == "deceased":
            problems.append((number, _("this resident is marked deceased in the registry of %(community)s",
                                       community=communities[resident.community_id])))
            continue
        kind, from_community = "changed", ""
        if resident.community_id != community.id:
            if resident.status == "active":
                problems.append((number, _("this resident lives in %(community)s by its registry; its staff "
                                           "must mark them as moved first",
                                           community=communities[resident.community_id])))
                continue
            kind, from_community = "moving_in", communities[resident.community_id]
        elif resident.status != "active":
            kind = "returning"
        before = {"name": resident.name, "grid": resident.grid.code,
                  "address": resident.address, "phone": resident.phone}
        after = {"name": values["name"], "grid": values["grid"], "address": values["address"], "phone": phone}
        fields = {f: (before[f], after[f]) for f in SHOWN_FIELDS if before[f] != after[f]}
        if fields or kind != "changed":
            plan.changed.append(ResidentChange(number, resident, kind, fields, from_community))
        else:
            plan.unchanged += 1
        refresh = {}
        if resident.id_hash != hashes[0]:
            refresh["id_hash"] = hashes[0]
        if resident.household != household and "address" not in fields and kind == "changed":
            refresh["household"] = household
        age = adult_on(born, local_day(resident.created_at))
        if resident.adult_on is None and age is not None:
            refresh["adult_on"] = age
        if resident.id_last6_hash is None:  # registered before activation existed: now they can activate
            refresh["id_last6_hash"] = last6
        if refresh:
            plan.refresh.append((resident, refresh))
    plan.moved_away = sorted((r for r in ours if r.status == "active" and r.id not in listed), key=address_order)
    if problems:
        raise RegistryRejected(sorted(problems, key=lambda p: p[0]))
    return plan


def apply_import(session, user, plan: ImportPlan, keys: list[str], now: datetime, file: str = "") -> dict:
    """Write the plan: add the new residents, change the changed ones (a move in or a return makes
    them active here from now), mark those moved away as moved; log one entry for the import with
    its counts and one per resident (never an ID number). Returns the counts.

    :raises Forbidden: unless staff of the community or the district admin (`user` None: the
        command line).
    """
    community = plan.community
    if user is not None:
        require_oversight(user, community.id)
    key, entries = keys[0], []
    grids = {n.grid: n.grid_id for n in plan.new}
    if plan.changed:
        grids.update(session.execute(select(Grid.code, Grid.id).where(Grid.community_id == community.id)).all())
    for resident, values in plan.refresh:
        for column, value in values.items():
            if column == "household":  # kept in the history: a vote open now still sees the old key
                change_facts(session, resident, now, household=value)
            else:
                setattr(resident, column, value)
    session.flush()  # a rekeyed hash before a new resident could take it
    added = [Resident(community_id=community.id, grid_id=n.grid_id, name=n.name, id_hash=n.id_hash, phone=n.phone,
                      address=n.address, household=household_key(key, community.id, n.address), status="active",
                      adult_on=n.adult_on, id_last6_hash=n.id_last6_hash, created_at=now, facts_since=now)
             for n in plan.new]
    session.add_all(added)
    session.flush()
    entries += [("residents.new", {"resident": r.id, "grid": n.grid}) for r, n in zip(added, plan.new)]
    for change in plan.changed:
        resident, after = change.resident, {f: new for f, (_old, new) in change.fields.items()}
        with session.no_autoflush:
            for name in ("name", "phone", "address"):
                if name in after:
                    setattr(resident, name, after[name])
            if "grid" in after:  # with the community (its foreign key names both): flushed together
                resident.grid_id = grids[after["grid"]]
            change_facts(session, resident, now, community_id=community.id, status="active",
                         household=household_key(key, community.id, resident.address))
        session.flush()
        entries.append((f"residents.{change.kind}", {"resident": resident.id, "fields": sorted(change.fields),
                                                     **({"from": change.from_community} if change.from_community
                                                        else {})}))
    for resident in plan.moved_away:
        change_facts(session, resident, now, status="moved")
        entries.append(("residents.moved", {"resident": resident.id, "by": "import"}))
    session.flush()
    counts = plan.counts
    log_actions(session, user, community, [("residents.import", {**counts, "file": file[:100]}), *entries])
    return counts
def find_by_id_number(session, community, id_number: str, keys: list[str]):
    """The community's resident with this ID number (hashed under any of `keys`).

    :raises Invalid: bad_id_number. :raises NotFound: unknown_resident.
    """

    number = validate_id_number(id_number)
    resident = session.scalar(select(Resident).where(
        Resident.community_id == community.id, Resident.id_hash.in_([hash_id_number(k, number) for k in keys])))
    if resident is None:
        raise NotFound(_("No resident of %(community)s has this ID number.", community=community.name),
                       "unknown_resident")
    return resident


def set_resident_status(session, user, community, resident_id: int, status: str, now: datetime):
    """Mark a resident of the community as moved away or deceased, or active again (a mistaken
    mark undone), and log it. A vote already open keeps them in its electorate (the history says
    they were active when it opened); `active` makes them count from now, as if never gone.

    :raises Forbidden: unless staff of the community (`user` None: the command line).
    :raises Invalid: bad_status for another status.
    :raises NotFound: unknown_resident for a resident not of this community.
    :raises Conflict: same_status when the resident already has it.
    """
    if user is not None:
        require_staff_of(user, community.id)
    if status not in RESIDENT_STATUSES:
        raise Invalid(_("The status is one of %(names)s.", names=", ".join(RESIDENT_STATUSES)), "bad_status")
    resident = session.get(Resident, resident_id)
    if resident is None or resident.community_id != community.id:
        raise NotFound(_("There is no such resident in this community."), "unknown_resident")
    if resident.status == status:
        raise Conflict(_("%(name)s is already marked so.", name=resident.name), "same_status")
    before = resident.status
    change_facts(session, resident, now, status=status)
    session.flush()
    log_action(session, user, "residents.status", community, resident=resident.id, before=before, status=status)
    return resident


def registry_page(session, community, search: str = "", status: str = "", limit: int = 100) -> list:
    """The community's residents whose name or address contains `search` (with `status`, if given),
    by grid and address: at most `limit`."""

    stmt = select(Resident).join(Grid, Grid.id == Resident.grid_id).where(Resident.community_id == community.id)
    if search.strip():
        like = f"%{search.strip()}%"
        stmt = stmt.where(Resident.name.like(like) | Resident.address.like(like))
    if status:
        stmt = stmt.where(Resident.status == status)
    return list(session.scalars(stmt.order_by(Grid.code, Resident.address, Resident.name, Resident.id).limit(limit)))


@dataclass(frozen=True)
class GridRegistry:
    grid: object
    residents: int  # active residents
    with_code: int  # of them, with a personal voting code


def registry_by_grid(session, community) -> list[GridRegistry]:
    """Each grid of the community with its number of active residents and of voting codes."""

    rows = session.execute(
        select(Grid, func.count(Resident.id), func.count(Resident.voting_code_hash))
        .outerjoin(Resident, and_(Resident.grid_id == Grid.id, Resident.status == "active"))
        .where(Grid.community_id == community.id).group_by(Grid.id).order_by(Grid.code)
    ).all()
    return [GridRegistry(grid, n, coded) for grid, n, coded in rows]


def find_grid_residents(session, community, grid_code: str, search: str) -> list:
    """Active residents of one of the community's grids whose name or address contains `search`."""

    like = f"%{search.strip()}%"
    return list(session.scalars(
        select(Resident).join(Grid, Grid.id == Resident.grid_id)
        .where(Grid.community_id == community.id, Grid.code == grid_code, Resident.status == "active",
               Resident.name.like(like) | Resident.address.like(like))
        .order_by(Resident.address, Resident.name, Resident.id).limit(50)
    ))
