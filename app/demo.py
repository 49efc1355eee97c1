"""The demo bureau: a district audit bureau like the one in the seed document.

31 staff in 7 departments, 22 audit projects of the kinds the bureau's 2025 report names, and a
year of monthly filings ending last month: mostly zero reports, a handful of incidents, some late
reports and a few missing ones. Everything is generated through the same services the portal
uses, with a fixed random seed, relative to the day it is loaded.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import clock, filing, review, twofactor
from app.extensions import db
from app.models import Agency, AuditProject, Department, Incident, User
from app.periods import Period, period_of
from app.security import hash_password

DEMO_PASSWORD = "Demo-password-2025"  # noqa: S105 (documented in the README)
# The demo's discipline office, leader and administrator must sign in with a second factor: they
# share this published key (README), to add to an authenticator app. For the demo only.
DEMO_TOTP_SECRET = "DEMODEMODEMODEMODEMODEMODEMODEMO"  # noqa: S105

DEPARTMENTS = ["办公室", "机关纪委", "法规审理科", "财政审计科", "经济责任审计科",
               "固定资产投资审计科", "农业与资源环保审计科"]

# staff number, name, department index, roles (the first five are the README's demo logins)
NAMED_STAFF = [
    ("XQ001", "王建国", 0, {"leader"}),
    ("XQ002", "李明", 0, {"admin"}),
    ("XQ003", "赵敏", 1, {"reviewer"}),
    ("XQ004", "孙丽", 1, {"reviewer", "auditor"}),
    ("XQ010", "张伟", 3, {"auditor"}),
]
AUDITOR_NAMES = ["刘洋", "陈静", "杨帆", "黄磊", "周婷", "吴昊", "徐倩", "孙浩", "马超", "朱琳",
                 "胡军", "郭亮", "何雪", "高峰", "林娜", "罗斌", "郑爽", "梁宇", "谢芳", "宋涛",
                 "唐敏", "韩冰", "冯雷", "董洁", "程鹏", "曹阳"]

PROJECTS = [
    "区级预算执行和其他财政收支审计", "防范化解政府债务风险专项审计调查",
    "科技创新政策落实情况专项审计", "区教育局部门预算执行审计", "区卫生健康委部门预算执行审计",
    "区民政局部门预算执行审计", "区城市管理委部门预算执行审计", "区农业农村委部门预算执行审计",
    "某街道党工委书记经济责任审计", "某镇党委书记经济责任审计", "区国资委主任经济责任审计",
    "区水务局局长经济责任审计", "重大政策措施落实情况跟踪审计", "残疾人权益保障政策落实审计",
    "殡葬领域政策执行情况审计", "新望道小学民心工程审计", "区政府投资道路改造项目审计",
    "老旧小区改造项目审计", "高标准农田建设资金审计", "农村集体经济组织财务收支审计",
    "政府采购专项审计调查", "区属国有企业资产负债损益审计",
]

INCIDENTS = [
    ("ask_progress", "phone", "leading_cadre", "区某委员会", "副主任",
     "来电询问审计组是否已发现该单位专项资金使用问题，并打听取证进展。", "refused"),
    ("plead", "in_person", "relative_friend", "某建筑公司", "经理",
     "以老同学身份到办公室说情，请求对其公司承建项目的结算问题“高抬贵手”。", "reported_leader"),
    ("benefits", "message", "audited_entity", "被审计单位", "财务科长",
     "微信提出周末宴请审计组成员，并称“已经安排好了”。", "refused"),
    ("change_findings", "in_person", "audited_entity", "被审计单位", "主要负责人",
     "要求将预算调剂问题从审计报告中删去，改为口头提醒。", "procedure"),
    ("duty_inquiry", "phone", "colleague", "本局经济责任审计科", "科长",
     "分管科长询问项目审计实施方案的时间安排，属于职责范围内的过问。", "procedure"),
    ("ask_documents", "third_party", "intermediary", "某咨询公司", "项目负责人",
     "通过中间人索要审计工作底稿复印件。", "reported_upwards"),
    ("press_scope", "letter", "leading_cadre", "某街道办事处", "副主任",
     "来函要求将下属公司排除在审计范围之外。", "reported_leader"),
    ("private_meeting", "phone", "audited_entity", "被审计单位", "副总经理",
     "多次来电要求与审计组长私下见面“沟通情况”。", "refused"),
]


def has_data() -> bool:
    """Whether any agency or account exists (an agency alone is real data too)."""
    return any(db.session.scalar(sa.select(sa.exists().select_from(model)))
               for model in (Agency, User))


def wipe() -> None:
    """Delete every row (evidence content included: it lives in the database)."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    # The rows are gone behind the ORM's back: forget every object it still holds, or a new
    # row reusing an id would collide with a stale one in the identity map.
    db.session.expunge_all()


def _at(day: date, hour: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, 17), tzinfo=tz).astimezone(UTC)


def _staff(agency: Agency, departments: list[Department], year_start: date) -> list[User]:
    password = hash_password(DEMO_PASSWORD)  # one hash for all: the demo loads in a second
    rows = list(NAMED_STAFF) + [
        (f"XQ{n + 11:03d}", name, 2 + n % 5, {"auditor"}) for n, name in enumerate(AUDITOR_NAMES)
    ]
    users = []
    for staff_no, name, dept, roles in rows:
        user = User(agency=agency, department=departments[dept], staff_no=staff_no, name=name,
                    email=f"{staff_no.lower()}@demo.xq-audit.example", password_hash=password,
                    joined_on=year_start)  # the demo's record starts with its year
        user.roles = roles
        if twofactor.required(user):
            user.totp_secret = DEMO_TOTP_SECRET
        users.append(user)
    users[-1].joined_on = year_start + timedelta(days=160)  # joined mid-year (新入职)
    users[-2].left_on = year_start + timedelta(days=240)    # left (调离): deactivated, history kept
    users[-2].active = False
    db.session.add_all(users)
    return users


def load(today: date | None = None, seed: int = 2025) -> Agency:
    """Create the demo bureau with a year of filings ending with last month's period."""
    rng = random.Random(seed)
    tz = ZoneInfo("Asia/Shanghai")
    now = clock.now() if today is None else _at(today, 12, tz)
    last = period_of(now, tz).previous()
    first = Period(last.year - 1, last.month).next()
    city = Agency(name="天津市审计局")
    agency = Agency(name="西青区审计局", parent=city, rules_text=RULES_TEXT)
    departments = [Department(agency=agency, name=name) for name in DEPARTMENTS]
    db.session.add_all([city, agency, *departments])
    projects = [
        AuditProject(agency=agency, code=f"XQSJ-{first.year + (i >= 11)}-{i % 11 + 1:02d}",
                     name=name, year=first.year + (i >= 11))
        for i, name in enumerate(PROJECTS)
    ]
    db.session.add_all(projects)
    users = _staff(agency, departments, first.first_day)
    db.session.flush()
    auditors = [u for u in users if u.has_role("auditor")]
    _history(rng, auditors, projects, first.until(last), tz, now)
    _reviews(next(u for u in users if u.staff_no == "XQ003"), now)
    return agency


def _reviews(office: User, now: datetime) -> None:
    """The discipline office has handled the older cases: most closed, one referred, one
    returned for supplement; the newest are still waiting."""
    incidents = db.session.scalars(
        sa.select(Incident).where(Incident.agency_id == office.agency_id)
        .order_by(Incident.registered_at)).all()
    plans = ["close", "close", "refer", "close", "return", "close"]
    for incident, plan in zip(incidents, plans, strict=False):
        when = min(incident.registered_at + timedelta(days=3), now)
        case = incident.review
        review.act(case, office, "start", review.Decision(), when)
        review.act(case, office, plan, DECISIONS[plan], when + timedelta(hours=2))


DECISIONS = {
    "close": review.Decision(affected=False, determination="审计人员当场拒绝并如实登记，"
                             "审计工作未受影响，已阅存档。"),
    "refer": review.Decision(affected=False, determination="审计人员拒绝并及时报告，审计工作"
                             "未受影响；对方行为涉嫌违规，移送处理。", referred_to="区纪委监委",
                             referral_reason="被审计单位负责人要求删减审计发现，涉嫌干预审计。"),
    "return": review.Decision(note="请补充对方的原话和在场人员。"),
}


def _history(rng: random.Random, auditors: list[User], projects: list[AuditProject],
             periods: list[Period], tz: ZoneInfo, now: datetime) -> None:
    rule = filing.deadline_rule(auditors[0].agency)
    slots = [(u.id, p) for u in auditors for p in periods if filing.in_scope(u, p)]
    stories = dict(zip(rng.sample(slots, len(INCIDENTS)), INCIDENTS, strict=True))
    for period in periods:
        for user in auditors:
            left_open = user.staff_no == "XQ010" and period == periods[-1]
            if left_open or not filing.in_scope(user, period):
                continue  # the main demo login leaves last month open to try filing
            if (user.id, period) in stories:
                _incident(rng, user, stories[user.id, period], projects, period, tz, now)
            roll = rng.random()
            if roll < 0.02 and period != periods[0]:
                continue  # missing
            due = rule.due_date(period)
            late = roll < 0.08
            day = due + timedelta(days=rng.randint(1, 6)) if late else due - timedelta(
                days=rng.randint(0, 4))
            if _at(day, 10, tz) > now:
                continue  # early in the month: this one has not filed last month yet
            zero = not filing.period_incidents(user, period)
            filing.file_report(user, period, zero=zero, now=_at(day, 10, tz))


def _incident(rng: random.Random, user: User, story: tuple, projects: list[AuditProject],
              period: Period, tz: ZoneInfo, now: datetime) -> None:
    category, channel, relation, org, position, text, response = story
    day = period.first_day + timedelta(days=rng.randint(0, 25))
    occurred = _at(day, 15, tz)
    data = filing.IncidentData(
        occurred_at=occurred, category=category, channel=channel,
        actor_name=rng.choice(["张某某", "李某", "王某某", "陈某"]), actor_org=org,
        actor_position=position, actor_relation=relation,
        project_id=rng.choice(projects).id, stage=rng.choice(["fieldwork", "reporting"]),
        description=text, response=response,
    )
    registered = min(occurred + timedelta(days=rng.randint(0, 3)), now)  # never in the future
    filing.register_incident(user, data, [], registered)


RULES_TEXT = """《天津市审计机关打探干预审计事项行为登记报告办法（试行）》要点

一、审计人员对任何单位和个人打探、干预审计事项的行为，应当如实、及时登记，每月报告；当月没有的，报告“零报告”。
二、月度报告于次月5日前完成。逾期仍可补报，系统标记为逾期。
三、登记内容仅本人和机关纪委可见，局领导、系统管理员不能查看具体内容。
四、属于职责范围内的正常过问（履职过问），如实登记备案，单独统计，不作为干预行为。
五、对如实登记报告的审计人员予以保护；对不登记、不报告或者隐瞒不报的，依规依纪处理。"""
