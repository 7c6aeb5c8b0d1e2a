"""The places and people the browser tests act in (built with the test factory, then committed)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from voting.accounts.models import User
from voting.geography.models import Community, Grid, SubDistrict

BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass
class Neighbourhood:
    code: str
    community: Community
    grids: list[Grid]
    residents: list[User]


def local_minute(value: datetime) -> str:
    """A naive UTC time as a datetime-local input value in Beijing time."""
    return value.replace(tzinfo=UTC).astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def neighbourhood(factory, per_grid: int = 3) -> Neighbourhood:
    """清水塘社区 with two grids, staff, a grid worker per grid, residents, an auditor and an admin,
    and last year's cycle closed (so staff open this year's); plus a second community."""
    sub = factory.add(SubDistrict(code="qs", name="清水塘街道"))
    community = factory.add(Community(code="qst01", name="清水塘社区", sub_district_id=sub.id))
    grids = [factory.add(Grid(code=f"qst01-{n}", name=f"第{n}网格", community_id=community.id)) for n in (1, 2)]
    other = factory.add(Community(code="xsl01", name="响石岭社区", sub_district_id=sub.id))
    other_grid = factory.add(Grid(code="xsl01-1", name="第1网格", community_id=other.id))
    factory.user("staff-qst01", "staff", community)
    factory.user("staff-xsl01", "staff", other)
    for n, grid in enumerate(grids, start=1):
        factory.user(f"grid-qst01-{n}", "grid_worker", community, grid)
    factory.user("grid-xsl01-1", "grid_worker", other, other_grid)
    residents = [factory.resident(community, grid, f"resident-qst01-{len(grids) and i * per_grid + n}")
                 for i, grid in enumerate(grids) for n in range(1, per_grid + 1)]
    factory.resident(other, other_grid, "resident-xsl01-1")
    factory.user("auditor", "auditor")
    factory.user("admin", "admin")
    factory.cycle(community, year=datetime.now(BEIJING).year - 1, phase="closed")
    return Neighbourhood("qst01", community, grids, residents)


PROJECTS = (("3栋楼道加装扶手", 18_000, "elderly"), ("小区路灯改造", 56_000, "lighting"),
            ("老年活动室添置桌椅", 30_000, "elderly"), ("雨水管网疏通", 80_000, "drainage"))


def open_vote(factory, place: Neighbourhood):
    """This year's cycle of the neighbourhood, voting open now, four projects on the ballot."""
    cycle = factory.cycle(place.community, year=datetime.now(BEIJING).year, phase="voting", max_choices=2)
    projects = []
    for title, cost, category in PROJECTS:
        project = factory.project(cycle, title, cost, location="清水塘路")
        project.category = category
        projects.append(project)
    return cycle, projects
