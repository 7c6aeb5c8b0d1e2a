"""Small, explicit builders for test data (flushed, never committed: the test decides)."""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from voting.accounts.models import User
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.geography.models import Community, Grid, SubDistrict
from voting.proposals.models import Project
from voting.residents.models import Resident
from voting.residents.services import hash_id_number, household_key, id_check_char
from werkzeug.security import generate_password_hash

_counter = itertools.count(1)
# When test residents joined the registry, unless a test says: before any test's vote opened.
REGISTERED_AT = datetime(2020, 1, 1)


@functools.cache
def cheap_hash(password: str) -> str:
    """The test accounts' password hash: one round of PBKDF2, made once. A sign-in checks the stored
    hash at the cost written in it; at the app's own (scrypt, about 0.1 s) the suite's thousands
    of sign-ins would take minutes. `test_accounts` tests the hashes the app itself makes."""
    return generate_password_hash(password, method="pbkdf2:sha256:1")


def valid_id_number(serial: int) -> str:
    first17 = f"43020419700101{serial % 1000:03d}"
    return first17 + id_check_char(first17)


@dataclass
class Place:
    community: Community
    grid: Grid
    staff: User
    worker: User
    residents: list[User]
    cycle: Cycle
    projects: list[Project]


@dataclass
class World:
    a: Place
    b: Place
    admin: User
    auditor: User
    extra: dict = field(default_factory=dict)


class Factory:
    def __init__(self, session, password: str):
        self.session = session
        self.password_hash = cheap_hash(password)

    def add(self, row):
        self.session.add(row)
        self.session.flush()
        return row

    def sub_district(self, code="sd") -> SubDistrict:
        return self.add(SubDistrict(code=code, name=f"{code}街道"))

    def community(self, sub: SubDistrict, code: str) -> Community:
        return self.add(Community(code=code, name=f"{code}社区", sub_district_id=sub.id))

    def grid(self, community: Community, n: int = 1) -> Grid:
        return self.add(Grid(code=f"{community.code}-{n}", name=f"第{n}网格", community_id=community.id))

    def user(self, username: str, role: str, community=None, grid=None, resident=None) -> User:
        return self.add(User(username=username, password_hash=self.password_hash, role=role,
                             community_id=community.id if community else None,
                             grid_id=grid.id if grid else None, resident_id=resident.id if resident else None))

    def resident(self, community: Community, grid: Grid, username: str, status: str = "active",
                 registered_at: datetime = REGISTERED_AT, address: str | None = None,
                 adult_on: date | None = None) -> User:
        serial = next(_counter)
        address = address or f"{serial}栋"
        person = self.add(Resident(community_id=community.id, grid_id=grid.id, name=f"居民{serial}",
                                   id_hash=hash_id_number("test", valid_id_number(serial) + str(serial)),
                                   address=address, household=household_key("test", community.id, address),
                                   status=status, adult_on=adult_on, created_at=registered_at,
                                   facts_since=registered_at))
        return self.user(username, "resident", community, resident=person)

    def cycle(self, community: Community, year: int = 2026, phase: str = "voting", **rules) -> Cycle:
        now = utcnow()
        window = {}
        if phase == "voting":
            window = {"voting_opens_at": now - timedelta(days=1), "voting_closes_at": now + timedelta(days=7)}
        return self.add(Cycle(community_id=community.id, year=year, phase=phase, **window, **rules))

    def project(self, cycle: Cycle, title: str, cost_yuan: int, status: str = "on_ballot", **fields) -> Project:
        cost = cost_yuan * 100
        reviewed = {"cost_fen": cost} if status != "submitted" else {}
        return self.add(Project(cycle_id=cycle.id, title=title, description=f"{title}的说明", category="road",
                                estimated_cost_fen=cost, status=status, **reviewed, **fields))

    def place(self, sub: SubDistrict, code: str, residents: int = 3) -> Place:
        community = self.community(sub, code)
        grid = self.grid(community)
        cycle = self.cycle(community)
        projects = [self.project(cycle, f"{code}项目{n}", cost)
                    for n, cost in enumerate((80_000, 60_000, 50_000, 30_000), start=1)]
        return Place(
            community=community, grid=grid,
            staff=self.user(f"staff-{code}", "staff", community),
            worker=self.user(f"grid-{code}-1", "grid_worker", community, grid),
            residents=[self.resident(community, grid, f"resident-{code}-{n}") for n in range(1, residents + 1)],
            cycle=cycle, projects=projects,
        )

    def world(self) -> World:
        sub = self.sub_district()
        return World(a=self.place(sub, "ca"), b=self.place(sub, "cb"),
                     admin=self.user("admin", "admin"), auditor=self.user("auditor", "auditor"))
