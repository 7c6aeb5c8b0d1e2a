"""The demo district (SPEC §5 `voting demo`): Shifeng's 5 sub-districts, 45 communities, 232 grids,
cycles 2019–2021 with 280 completed projects (with their milestones, payments, acceptance and
ratings), last year's cycle being built, and this year's vote open in every community.

Everything is drawn from one seeded random generator, so the same seed gives the same district.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from .accounts.models import User
from .accounts.services import hash_password
from .audit.demo_ballots import vote_last_year
from .cycles.models import DEFAULT_FUND_FEN, Cycle
from .database import utcnow
from .enums import Phase, ProjectStatus, Role
from .geography.models import Community, Grid, SubDistrict
from .proposals.models import Project
from .residents.models import Resident
from .residents.idcheck import hash_id_last6
from .residents.services import adult_on, birth_date, hash_id_number, household_key, id_check_char
from .tracking.models import Acceptance, Milestone, ProgressChange, ProjectRating, SpendingEntry

PAST_YEARS = (2019, 2020, 2021)
# Completed projects per past year: 90 + 93 + 97 = 280. Each community-year funds 2, some 3.
COMPLETED_PER_YEAR = {2019: 90, 2020: 93, 2021: 97}
GRID_COUNT = 232

SUB_DISTRICTS = [
    ("qst", "清水塘街道", ["清水塘社区", "霞湾港社区", "铜霞社区", "金盆岭社区", "湘天桥社区",
                        "杉木塘社区", "清石社区", "三角坪社区", "霞湾村"]),
    ("xsl", "响石岭街道", ["响石岭社区", "九郎山社区", "丁山社区", "雪峰岭社区", "建设社区",
                        "响田社区", "石峰社区", "月塘社区", "九郎山村"]),
    ("jk", "井墈街道", ["井墈社区", "井塘社区", "啤酒厂社区", "莱茵小镇社区", "白石港社区",
                      "新村社区", "北环社区", "卫星社区", "井墈村"]),
    ("tx", "田心街道", ["田心社区", "机车社区", "北门社区", "东门社区", "车辆社区",
                      "东园社区", "高家坪社区", "合泰社区", "田心村"]),
    ("ttw", "铜塘湾街道", ["铜塘湾社区", "曙光社区", "清霞社区", "保障社区", "湘江社区",
                        "新民社区", "湾塘社区", "长石社区", "铜塘村"]),
]
ESTATES = ["井塘小区", "啤酒厂小区", "莱茵小镇", "一区", "二区", "新村", "家属区", "东苑", "西苑", "南苑"]
TITLES = {
    "water": ["{p}二次供水设施改造", "{p}老旧供水管网更换"],
    "power": ["{p}老旧电线规整入地", "{p}电动车集中充电桩建设"],
    "road": ["{p}破损道路硬化修补", "{p}人行道及台阶修缮"],
    "gas": ["{p}燃气管道入户改造"],
    "network": ["{p}光纤入户与弱电线路规整"],
    "culture": ["{p}社区书屋建设", "{p}文化广场舞台改造"],
    "sports": ["{p}健身器材更新", "{p}篮球场翻新"],
    "elderly": ["{p}长者助餐点建设", "{p}楼道适老化扶手安装"],
    "childcare": ["{p}儿童游乐场地改造", "{p}四点半课堂改建"],
    "shopping": ["{p}便民菜市场提质改造"],
    "parking": ["{p}停车位划线扩容", "{p}非机动车棚建设"],
    "greening": ["{p}绿化补植与口袋公园", "{p}裸露黄土复绿"],
    "lighting": ["{p}路灯安装与更换", "{p}楼道声控灯改造"],
    "drainage": ["{p}雨污分流改造", "{p}下水道清淤疏通"],
}
DESCRIPTIONS = {
    "water": "水压不足、管网锈蚀，高层住户用水困难，居民反映强烈。",
    "power": "线路老化、私拉乱接存在安全隐患，需统一规整。",
    "road": "路面坑洼积水，老人孩子出行不便，雨天尤甚。",
    "gas": "部分楼栋尚未通管道燃气，居民仍使用罐装液化气。",
    "network": "空中线缆杂乱如蛛网，影响安全与美观。",
    "culture": "居民缺少读书、排练和议事的公共空间。",
    "sports": "现有器材老旧损坏，中老年居民锻炼需求大。",
    "elderly": "辖区老年人多，就餐、上下楼困难，需要适老化服务。",
    "childcare": "双职工家庭多，孩子放学后无人看护、缺少活动场地。",
    "shopping": "买菜需跨主干道，老人购物不便。",
    "parking": "车位紧张，乱停乱放堵塞消防通道。",
    "greening": "绿地荒废、黄土裸露，居民希望改善环境。",
    "lighting": "夜间照明不足，居民夜归存在安全隐患。",
    "drainage": "雨季积水倒灌，下水道经常堵塞。",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强玉兰金凤德福春花"
REJECTION_REASONS = [
    "属于物业维修基金支出范围，已转交物业公司办理。",
    "与另一提议内容重复，已合并。",
    "涉及产权单位，需由区住建部门统筹实施。",
]


# When the demo's residents joined the registry: before its first vote (2019).
REGISTERED_AT = datetime(2018, 12, 1)


class DemoError(Exception):
    """The demo cannot be loaded (the database already holds a district)."""


@dataclass
class _Build:
    rng: random.Random
    now: datetime
    secret_key: str
    password_hash: str
    # A resident whose ID digits the accounts table shows, to try activation (a new code replaces the password).
    activation_example: tuple[str, str, str, str] | None = None


def accounts_file(app) -> Path:
    return Path(app.instance_path) / "demo-accounts.txt"


def load_demo(session, *, seed: int, password: str | None, residents_per_grid: int, secret_key: str | None = None,
              now: datetime | None = None) -> str:
    """Load the district into an empty database; return the table of demo accounts (flushed, not committed).

    :raises DemoError: when a district is already loaded.
    """
    if session.scalar(select(func.count(Community.id))):
        raise DemoError("the database already holds a district; the demo loads only into an empty database")
    password = password or secrets.token_urlsafe(9)
    # One hash shared by every demo account: the password is the same by design, and hashing
    # a thousand accounts one by one would take a minute.
    build = _Build(random.Random(seed), now or utcnow(), secret_key or current_app.config["SECRET_KEY"],
                   hash_password(password))
    communities = _places(session, build)
    grid_counts = _grid_counts(len(communities))
    extra = _extra_funded(build.rng, len(communities))
    first_resident = None
    for index, community in enumerate(communities):
        grids = _grids(session, community, grid_counts[index])
        session.add(User(username=f"staff-{community.code}", password_hash=build.password_hash, role=Role.STAFF,
                         community_id=community.id))
        for grid in grids:
            session.add(User(username=f"grid-{grid.code}", password_hash=build.password_hash, role=Role.GRID_WORKER,
                             community_id=community.id, grid_id=grid.id))
        names = _residents(session, build, community, grids, residents_per_grid)
        first_resident = first_resident or names[0]
        for year in PAST_YEARS:
            _past_cycle(session, build, community, year, funded=2 + ((index, year) in extra))
        _current_cycle(session, build, community)
    for username, role in (("admin", Role.ADMIN), ("auditor", Role.AUDITOR)):
        session.add(User(username=username, password_hash=build.password_hash, role=role))
    session.flush()
    _follow_the_money(session, build, communities, random.Random(f"tracking-{seed}"))
    vote_last_year(session, seed, build.now)  # real ballots for last year's cycles, counted to what they fund
    return _accounts_table(communities, password, residents_per_grid, grid_counts, build.activation_example)


def _places(session, build: _Build) -> list[Community]:
    communities = []
    for sub_code, sub_name, names in SUB_DISTRICTS:
        sub = SubDistrict(code=sub_code, name=sub_name)
        session.add(sub)
        for n, name in enumerate(names, start=1):
            kind = "village" if name.endswith("村") else "community"
            communities.append(Community(code=f"{sub_code}{n:02d}", name=name, kind=kind, sub_district=sub))
    session.add_all(communities)
    session.flush()
    return communities


def _grid_counts(community_count: int) -> list[int]:
    """232 grids over 45 communities: five each, six in the first seven."""
    base, extra = divmod(GRID_COUNT, community_count)
    return [base + (i < extra) for i in range(community_count)]


def _extra_funded(rng: random.Random, community_count: int) -> set[tuple[int, int]]:
    """Which community-years fund a third project, so that the years add up to 280."""
    extra = set()
    for year, total in COMPLETED_PER_YEAR.items():
        for index in rng.sample(range(community_count), total - 2 * community_count):
            extra.add((index, year))
    return extra


def _grids(session, community: Community, count: int) -> list[Grid]:
    grids = [Grid(code=f"{community.code}-{n}", name=f"{community.name}第{n}网格", community_id=community.id)
             for n in range(1, count + 1)]
    session.add_all(grids)
    session.flush()
    return grids


def _residents(session, build: _Build, community, grids, per_grid: int) -> list[str]:
    rng, names, n = build.rng, [], 0
    for grid_number, grid in enumerate(grids, start=1):
        for _i in range(per_grid):
            n += 1
            birth = datetime(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 65))
            first17 = f"430204{birth:%Y%m%d}{rng.randrange(1000):03d}"
            number = first17 + id_check_char(first17)
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
            address = (f"{community.name}{rng.choice(ESTATES)}{grid_number}栋{rng.randrange(1, 7)}单元"
                       f"{rng.randrange(1, 19)}0{rng.randrange(1, 5)}")
            resident = Resident(
                community_id=community.id, grid_id=grid.id, name=name,
                id_hash=hash_id_number(build.secret_key, number), id_last6_hash=hash_id_last6(build.secret_key, number),
                phone=phone, address=address,
                household=household_key(build.secret_key, community.id, address),
                # the day they turn 18, for who was under 18 when registered (as an import keeps it)
                adult_on=adult_on(birth_date(number), REGISTERED_AT.date()),
                created_at=REGISTERED_AT,  # before every demo vote opened: all are in its electorate
                facts_since=REGISTERED_AT,
            )
            session.add(resident)
            session.flush()
            username = f"resident-{community.code}-{n}"
            session.add(User(username=username, password_hash=build.password_hash, role=Role.RESIDENT,
                             community_id=community.id, resident_id=resident.id))
            names.append(username)
            if n == 2 and build.activation_example is None:
                build.activation_example = (username, resident.name, grid.name, number[-6:])
    return names


def _project(build: _Build, cycle: Cycle, community: Community, **fields) -> Project:
    category = build.rng.choice(list(TITLES))
    place = community.name.removesuffix("社区").removesuffix("村") + build.rng.choice(ESTATES)
    return Project(cycle_id=cycle.id, title=build.rng.choice(TITLES[category]).format(p=place),
                   description=DESCRIPTIONS[category], category=category,
                   location=f"{community.name}{build.rng.choice(ESTATES)}", **fields)


def _cost(rng: random.Random, low_yuan: int, high_yuan: int) -> int:
    """A cost in fen, in whole hundreds of yuan."""
    return rng.randrange(low_yuan // 100, high_yuan // 100 + 1) * 100 * 100


def _past_cycle(session, build: _Build, community, year: int, funded: int) -> None:
    """A closed cycle whose funded projects were built; the vote counts agree with a greedy tally."""
    rng = build.rng
    opens = datetime(year, 4, 1, 1, 0)
    cycle = Cycle(community_id=community.id, year=year, phase=Phase.CLOSED, created_at=datetime(year, 2, 1),
                  review_started_at=datetime(year, 3, 1), voting_opens_at=opens,
                  voting_closes_at=opens + timedelta(days=14), results_published_at=opens + timedelta(days=15),
                  implementation_started_at=opens + timedelta(days=30), closed_at=datetime(year + 1, 3, 31),
                  rules_frozen_at=opens)
    session.add(cycle)
    session.flush()
    share = DEFAULT_FUND_FEN // 100 // funded
    costs = [_cost(rng, share * 55 // 100, share * 95 // 100) for _ in range(funded)]
    remaining = DEFAULT_FUND_FEN - sum(costs)
    voters = rng.randrange(300, 900)
    votes = sorted(rng.sample(range(voters // 5, voters * 3 // 4), funded + 2), reverse=True)
    for rank, cost in enumerate(costs):
        completed = opens + timedelta(days=rng.randrange(120, 330))
        # Every project of a closed year is accepted (a year closes with none left open); most within
        # 10–40 days, the rest 25 days after completion (the draws are as before, so a seed's district stays).
        accepted = completed + timedelta(days=rng.randrange(10, 40) if rng.random() < 0.85 else 25)
        session.add(_project(build, cycle, community, estimated_cost_fen=cost, cost_fen=cost,
                             status=ProjectStatus.ACCEPTED, votes=votes[rank],
                             completed_at=completed, accepted_at=accepted))
    for rank in range(funded, funded + 2):
        # Not funded: it did not fit in what the better-voted projects left.
        cost = min(DEFAULT_FUND_FEN, remaining + _cost(rng, 5_000, 60_000))
        session.add(_project(build, cycle, community, estimated_cost_fen=cost, cost_fen=cost,
                             status=ProjectStatus.NOT_FUNDED, votes=votes[rank]))


def _current_cycle(session, build: _Build, community) -> None:
    rng = build.rng
    cycle = Cycle(community_id=community.id, year=build.now.year, phase=Phase.VOTING,
                  created_at=build.now - timedelta(days=60), review_started_at=build.now - timedelta(days=20),
                  voting_opens_at=build.now - timedelta(days=3), voting_closes_at=build.now + timedelta(days=11))
    session.add(cycle)
    session.flush()
    for _n in range(rng.randrange(5, 9)):
        cost = _cost(rng, 20_000, 120_000)
        session.add(_project(build, cycle, community, estimated_cost_fen=cost, cost_fen=cost,
                             status=ProjectStatus.ON_BALLOT, reviewed_at=cycle.review_started_at))
    session.add(_project(build, cycle, community, estimated_cost_fen=_cost(rng, 20_000, 90_000),
                         status=ProjectStatus.REJECTED, review_reason=rng.choice(REJECTION_REASONS),
                         reviewed_at=cycle.review_started_at))


CONTRACTORS = ["株洲市石峰区宏达建筑工程有限公司", "湖南湘天市政工程有限公司", "株洲铜塘建设有限公司",
               "株洲市清水塘园林绿化有限公司", "湖南响石电力安装有限公司", "株洲九郎山装饰工程有限公司"]
MILESTONE_TEXTS = [
    ("施工单位进场，围挡到位，开始施工。", "材料进场，居民代表现场查看材料质量。"),
    ("主体工程完成过半，每周在公示栏更新进度。", "主体施工完成，开始收尾和场地清理。"),
    ("完工，施工单位提交竣工资料，请居民提意见。", "完工，场地恢复，设施投入使用。"),
]
ACCEPTANCE_PANELS = ["社区两委、居民代表、业委会、施工单位", "社区党组织、居民代表、物业公司、施工单位",
                     "社区居委会、网格员、居民代表、监理单位"]
ACCEPTANCE_REMARKS = ["质量合格，资料齐全，同意验收。", "整体合格；两处细节已现场整改完毕。", "居民代表现场查验，满意。"]
RATING_COMMENTS = ["晚上出门亮堂多了，谢谢社区！", "老人用着方便，希望以后多维护。", "施工期间有点吵，但结果很好。",
                   "做得不错，就是工期比说的长了一点。", "孩子们很喜欢。", "", "", ""]


def _follow_the_money(session, build: _Build, communities, rng: random.Random) -> None:
    """Implementation records for the completed projects (progress, milestones, payments, acceptance,
    ratings), and last year's cycle in implementation with a funded and an in-progress project per
    community. A generator of its own, so that the district above stays as it was for each seed."""
    staff = {u.community_id: u for u in session.scalars(select(User).where(User.role == Role.STAFF))}
    residents: dict[int, list[int]] = {}
    for user in session.scalars(select(User).where(User.role == Role.RESIDENT).order_by(User.id)):
        residents.setdefault(user.community_id, []).append(user.resident_id)
    done = session.execute(
        select(Project, Cycle).join(Cycle, Project.cycle_id == Cycle.id)
        .where(Project.status.in_(("completed", "accepted"))).order_by(Project.id)
    ).all()
    for project, cycle in done:
        worker = staff[cycle.community_id]
        started = cycle.implementation_started_at + timedelta(days=rng.randrange(5, 30))
        completed = project.completed_at
        middle = started + (completed - started) / 2
        contractor = rng.choice(CONTRACTORS)
        changes = [("funded", "in_progress", started), ("in_progress", "completed", completed)]
        if project.accepted_at:
            changes.append(("completed", "accepted", project.accepted_at))
        for before, after, at in changes:
            session.add(ProgressChange(project_id=project.id, from_status=before, to_status=after,
                                       changed_by_id=worker.id, changed_at=at))
        for texts, at in zip(MILESTONE_TEXTS, (started, middle, completed)):
            session.add(Milestone(project_id=project.id, happened_on=at.date(), text=rng.choice(texts),
                                  recorded_by_id=worker.id, created_at=at))
        # An advance, a progress payment, and the balance once accepted (paid in whole yuan).
        advance = project.cost_fen * 3 // 10 // 100 * 100
        progress = project.cost_fen * 4 // 10 // 100 * 100
        payments = [(started, advance, "预付款"), (middle, progress, "进度款")]
        if project.accepted_at:
            payments.append((project.accepted_at, project.cost_fen - advance - progress, "验收后结算尾款"))
        for at, amount, note in payments:
            session.add(SpendingEntry(project_id=project.id, spent_on=at.date(), amount_fen=amount, payee=contractor,
                                      note=note, recorded_by_id=worker.id, created_at=at))
        if project.accepted_at:
            session.add(Acceptance(project_id=project.id, accepted_on=project.accepted_at.date(),
                                   panel=rng.choice(ACCEPTANCE_PANELS), remarks=rng.choice(ACCEPTANCE_REMARKS),
                                   recorded_by_id=worker.id, recorded_at=project.accepted_at))
        people = residents.get(cycle.community_id, [])
        for resident_id in rng.sample(people, rng.randrange(0, min(4, len(people)) + 1)):
            session.add(ProjectRating(project_id=project.id, resident_id=resident_id,
                                      score=rng.choices((5, 4, 3, 2, 1), weights=(45, 35, 12, 5, 3))[0],
                                      comment=rng.choice(RATING_COMMENTS), created_at=completed + timedelta(days=40)))
    year = build.now.year - 1
    if year > max(PAST_YEARS):
        for community in communities:
            _implementation_cycle(session, build, rng, community, year, staff[community.id])
    session.flush()


def _implementation_cycle(session, build: _Build, rng: random.Random, community, year: int, worker) -> None:
    """Last year's cycle, being built: one project in progress (a milestone, an advance paid) and one
    funded, not yet started; the vote counts agree with a greedy tally."""
    opens = datetime(year, 4, 1, 1, 0)
    published = opens + timedelta(days=15)
    cycle = Cycle(community_id=community.id, year=year, phase=Phase.IMPLEMENTATION, created_at=datetime(year, 2, 1),
                  review_started_at=datetime(year, 3, 1), voting_opens_at=opens,
                  voting_closes_at=opens + timedelta(days=14), results_published_at=published,
                  implementation_started_at=opens + timedelta(days=30), rules_frozen_at=opens)
    session.add(cycle)
    session.flush()
    costs = [_cost(rng, 55_000, 95_000), _cost(rng, 40_000, 80_000)]
    remaining = DEFAULT_FUND_FEN - sum(costs)
    voters = rng.randrange(300, 900)
    votes = sorted(rng.sample(range(voters // 5, voters * 3 // 4), 4), reverse=True)
    started = opens + timedelta(days=rng.randrange(45, 90))
    built = _project(build, cycle, community, estimated_cost_fen=costs[0], cost_fen=costs[0],
                     status=ProjectStatus.IN_PROGRESS, votes=votes[0], reviewed_at=cycle.review_started_at)
    waiting = _project(build, cycle, community, estimated_cost_fen=costs[1], cost_fen=costs[1],
                       status=ProjectStatus.FUNDED, votes=votes[1], reviewed_at=cycle.review_started_at)
    session.add_all([built, waiting])
    for rank in (2, 3):
        cost = min(DEFAULT_FUND_FEN, remaining + _cost(rng, 5_000, 60_000))
        session.add(_project(build, cycle, community, estimated_cost_fen=cost, cost_fen=cost,
                             status=ProjectStatus.NOT_FUNDED, votes=votes[rank], reviewed_at=cycle.review_started_at))
    session.flush()
    session.add(ProgressChange(project_id=built.id, from_status=ProjectStatus.FUNDED,
                               to_status=ProjectStatus.IN_PROGRESS, changed_by_id=worker.id, changed_at=started))
    session.add(Milestone(project_id=built.id, happened_on=started.date(), text=rng.choice(MILESTONE_TEXTS[0]),
                          recorded_by_id=worker.id, created_at=started))
    session.add(SpendingEntry(project_id=built.id, spent_on=started.date(), amount_fen=costs[0] * 3 // 10 // 100 * 100,
                              payee=rng.choice(CONTRACTORS), note="预付款", recorded_by_id=worker.id, created_at=started))


def _accounts_table(communities, password: str, per_grid: int, grid_counts: list[int],
                    activation_example: tuple[str, str, str, str] | None = None) -> str:
    first, last = communities[0], communities[-1]
    rows = [
        ("admin", "district admin", "the whole district"),
        ("auditor", "auditor", "the whole district, read-only"),
        (f"staff-{first.code} … staff-{last.code}", "community staff", "one community each (45)"),
        (f"grid-{first.code}-1 … grid-{last.code}-{grid_counts[-1]}", "grid worker", f"one grid each ({GRID_COUNT})"),
        (f"resident-{first.code}-1 … resident-{first.code}-{per_grid * grid_counts[0]}", "resident",
         f"{per_grid} per grid, numbered per community from 1"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"Demo accounts (password for all: {password})", ""]
    lines += [f"  {name:<{width}}  {role:<16} {scope}" for name, role, scope in rows]
    lines += ["", f"  e.g. resident-{first.code}-1 ({first.name}) can vote now;",
              f"       staff-{first.code} records progress and payments on last year's projects;",
              "       auditor downloads last year's ballot records and verifies them (/audit)."]
    if activation_example:
        username, name, grid, last6 = activation_example
        lines += ["", f"  Activation: staff-{first.code} prints a new voting code for {name} ({grid}) at",
                  f"  /c/{first.code}/voting-codes; at /activate that code and the ID digits {last6} set a new",
                  f"  password (and username) for {username}: how a resident recovers a lost password."]
    return "\n".join(lines) + "\n"
