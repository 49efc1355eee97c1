"""The demo bureau: a district audit bureau like the one in the seed document.

31 staff in 7 departments, 22 audit projects of the kinds the bureau's 2025 report names, and the
monthly filings of a whole cycle: the last calendar year that can be signed (every month, its
cases reviewed, the personal confirmations given but two, its statement prepared by the
discipline office and signed by the leader, then one registration remembered after signing),
and the months since, up to last month. Mostly zero reports, a handful of incidents, some late
reports and a few missing ones. Everything is generated through the same services the portal
uses, with a fixed random seed, relative to the day it is loaded.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.admin import employment
from app.auth import twofactor
from app.auth.security import hash_password
from app.core import clock
from app.core.codes import ReviewStep, Role
from app.core.extensions import db
from app.filing import records
from app.filing.periods import Period, period_of
from app.keys import custody, keychain
from app.models import Agency, AuditProject, Department, Incident, User
from app.review import workflow
from app.statement import confirmations, signing

DEMO_PASSWORD = "Demo-password-2025"  # noqa: S105 (documented in the README)
# The demo agency's recovery key (app/keys/custody.py), the same at every load: `flask demo`
# prints it. A real agency's is random and shown once to its discipline office.
RECOVERY_CODE = hashlib.sha256(b"audit-portal demo recovery key").digest()
# The demo's discipline office, leader and administrator must sign in with a second factor: they
# share this published key (README), to add to an authenticator app. For the demo only.
DEMO_TOTP_SECRET = "DEMODEMODEMODEMODEMODEMODEMODEMO"  # noqa: S105

@dataclass(frozen=True)
class Bureau:
    """One demo bureau: its name, staff number prefix, the names of its five named staff (the
    leader, administrator, two members of the discipline office, the main auditor; see
    NAMED_STAFF) and how many other auditors it has (at least five: the fifteenth registers
    after signing)."""

    name: str
    prefix: str
    named: tuple[str, str, str, str, str]
    auditors: int
    document_number_pattern: str
    seed: int

    def staff_no(self, number: int) -> str:
        return f"{self.prefix}{number:03d}"


XIQING = Bureau("西青区审计局", "XQ", ("王建国", "李明", "赵敏", "孙丽", "张伟"), 26,
                "西审〔{year}〕{n}号", 2025)
CITY = "天津市审计局"
# `flask demo --municipal`: the city bureau with its own staff above three district bureaus.
MUNICIPAL_CITY = Bureau(CITY, "TJ", ("周正国", "钱文", "吴静", "郑红", "冯立"), 6,
                        "津审〔{year}〕{n}号", 2026)
MUNICIPAL_DISTRICTS = (
    XIQING,
    Bureau("南开区审计局", "NK", ("陈志强", "卫东", "蒋丽华", "沈梅", "韩涛"), 8,
           "南审〔{year}〕{n}号", 2027),
    Bureau("和平区审计局", "HP", ("杨光明", "朱海", "秦雪", "许娟", "何平"), 8,
           "和审〔{year}〕{n}号", 2028),
)

DEPARTMENTS = ["办公室", "机关纪委", "法规审理科", "财政审计科", "经济责任审计科",
               "固定资产投资审计科", "农业与资源环保审计科"]

# staff number, department index, roles of a bureau's named staff (XIQING's are the README's
# demo logins), in the order of Bureau.named
NAMED_STAFF = [
    (1, 0, {Role.LEADER}),
    (2, 0, {Role.ADMIN}),
    (3, 1, {Role.REVIEWER}),
    (4, 1, {Role.REVIEWER, Role.AUDITOR}),
    (10, 3, {Role.AUDITOR}),
]
LEADER, OFFICE, MAIN_AUDITOR, LATE_REGISTRANT = 1, 3, 10, 15
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


def _staff(bureau: Bureau, agency: Agency, departments: list[Department], year_start: date,
           password: str) -> list[User]:
    rows = [(bureau.staff_no(number), name, dept, roles)
            for (number, dept, roles), name in zip(NAMED_STAFF, bureau.named, strict=True)] + [
        (bureau.staff_no(n + 11), name, 2 + n % 5, {Role.AUDITOR})
        for n, name in enumerate(AUDITOR_NAMES[:bureau.auditors])
    ]
    domain = f"demo.{bureau.prefix.lower()}-audit.example"
    users = []
    for staff_no, name, dept, roles in rows:
        user = User(agency=agency, department=departments[dept], staff_no=staff_no, name=name,
                    email=f"{staff_no.lower()}@{domain}", password_hash=password,
                    joined_on=year_start)  # the demo's record starts with its year
        user.roles = roles
        if twofactor.required(user):
            user.totp_secret = DEMO_TOTP_SECRET
        users.append(user)
    users[-1].joined_on = year_start + timedelta(days=160)  # joined mid-year (新入职)
    users[-2].left_on = year_start + timedelta(days=240)    # left (调离): deactivated, history kept
    users[-2].active = False
    db.session.add_all(users)
    for user in users:
        employment.follow(user)
    return users


def signed_year(agency: Agency, now: datetime) -> int:
    """The last year whose statement can be signed a day before `now`: last year, or the year
    before while last December's reports are not yet due."""
    year = now.astimezone(ZoneInfo(agency.timezone)).year - 1
    return year if signing.signable_from(agency, year) + SIGNING_AFTER <= now else year - 1


def load(today: date | None = None) -> Agency:
    """Create the demo bureau (西青区, under a city agency without staff): the last signable
    year whole, reviewed, confirmed, its statement signed and locked, then the following
    months up to last month's period."""
    now = clock.now() if today is None else _at(today, 12, TZ)
    city = Agency(name=CITY)
    db.session.add(city)
    return _bureau(XIQING, city, now, hash_password(DEMO_PASSWORD))


def load_municipal(today: date | None = None) -> Agency:
    """Create the municipal demo: the city bureau, with staff and filings of its own, above
    three district bureaus (西青区 as in the default demo), each a bureau like the default
    one. Returns the city."""
    now = clock.now() if today is None else _at(today, 12, TZ)
    password = hash_password(DEMO_PASSWORD)  # one hash for all: the demo loads in seconds
    city = _bureau(MUNICIPAL_CITY, None, now, password)
    for district in MUNICIPAL_DISTRICTS:
        _bureau(district, city, now, password)
    _installation_admin(city, password, now)
    return city


# The municipal demo's installation administrator (README): arranges the agencies, sees no filing.
INSTALLATION_ADMIN = ("TJ000", "平台管理员")


def _installation_admin(city: Agency, password: str, now: datetime) -> User:
    staff_no, name = INSTALLATION_ADMIN
    user = User(agency=city, staff_no=staff_no, name=name, password_hash=password,
                email=f"{staff_no.lower()}@demo.{MUNICIPAL_CITY.prefix.lower()}-audit.example",
                joined_on=date(signed_year(city, now), 1, 1))
    user.roles = {Role.INSTALLATION_ADMIN}
    if twofactor.required(user):
        user.totp_secret = DEMO_TOTP_SECRET
    db.session.add(user)
    db.session.flush()
    custody.new_ring(user, DEMO_PASSWORD)
    return user


def _bureau(bureau: Bureau, parent: Agency | None, now: datetime, password: str) -> Agency:
    """One bureau with its departments, projects, staff, keys and history."""
    rng = random.Random(bureau.seed)
    agency = Agency(name=bureau.name, parent=parent, rules_text=RULES_TEXT,
                    document_number_pattern=bureau.document_number_pattern)
    departments = [Department(agency=agency, name=name) for name in DEPARTMENTS]
    db.session.add_all([agency, *departments])
    db.session.flush()
    year = signed_year(agency, now)
    first = Period(year, 1)
    projects = [
        AuditProject(agency=agency,
                     code=f"{bureau.prefix}SJ-{first.year + (i >= 11)}-{i % 11 + 1:02d}",
                     name=name, year=first.year + (i >= 11))
        for i, name in enumerate(PROJECTS)
    ]
    db.session.add_all(projects)
    users = _staff(bureau, agency, departments, first.first_day, password)
    db.session.flush()
    people = {u.staff_no: u for u in users}
    office = people[bureau.staff_no(OFFICE)]
    with keychain.using(_keys(agency, office, users, now)):
        _history(bureau, agency, people, users, projects, rng, now, year)
    return agency


def _keys(agency: Agency, office: User, users: list[User], now: datetime) -> keychain.Keychain:
    """Everyone's key ring (their demo password), the agency key granted to the office's
    member; the demo loads as that member, who can read what the office reviews."""
    rings = {user.id: custody.new_ring(user, DEMO_PASSWORD) for user in users}
    custody.create_agency_key(agency.id, office, now, code=RECOVERY_CODE)
    ring, private = rings[office.id]
    chain = keychain.Keychain(office.id, ring.id, private, office=True)
    for user in users:
        if user is not office and user.has_role(Role.REVIEWER):
            custody.grant(agency.id, user, office, chain.agency_private(agency.id), now)
    return chain


def _history(bureau: Bureau, agency: Agency, people: dict[str, User], users: list[User],
             projects: list[AuditProject], rng: random.Random, now: datetime,
             year: int) -> None:
    first = Period(year, 1)
    last = period_of(now, TZ).previous()
    auditors = [u for u in users if u.has_role(Role.AUDITOR)]
    signed_on = signing.signable_from(agency, year) + SIGNING_AFTER
    closed, later = first.until(Period(year, 12)), Period(year + 1, 1).until(last)
    split = len(INCIDENTS) - (3 if later else 0)  # the last three stories are this year's
    office, leader = people[bureau.staff_no(OFFICE)], people[bureau.staff_no(LEADER)]
    history = Filer(rng, auditors, projects, TZ, now, bureau.staff_no(MAIN_AUDITOR))
    history.run(closed, INCIDENTS[:split], until=signed_on)
    _reviews(office, _incidents_of(agency, closed), CLOSED_YEAR_PLANS, signed_on)
    _confirm(auditors, year, signed_on, {bureau.staff_no(n) for n in UNCONFIRMED})
    _sign(agency, year, office, leader, signed_on)
    _registered_after_signing(history, people[bureau.staff_no(LATE_REGISTRANT)], year,
                              signed_on)
    history.run(later, INCIDENTS[split:], until=now)
    _reviews(office, _incidents_of(agency, later), LATER_PLANS, now)


# A week after the year can first be signed, the discipline office prepares the statement and
# the leader signs it: every December report filed on time or up to six days late is in.
SIGNING_AFTER = timedelta(days=7, hours=10)  # at 10:00 local time
# The signed year's cases are all finished (the statement lists no open review); this year's
# newest still wait, one is back with its registrant.
CLOSED_YEAR_PLANS = [ReviewStep.CLOSE] * 2 + [ReviewStep.REFER] + [ReviewStep.CLOSE] * 5
LATER_PLANS = [ReviewStep.CLOSE, ReviewStep.RETURN]
# Auditors who have not given the personal confirmation of the signed year (the statement
# names them).
UNCONFIRMED = (20, 27)


def _incidents_of(agency: Agency, periods: list[Period]) -> list[Incident]:
    if not periods:
        return []
    return list(db.session.scalars(
        sa.select(Incident).where(Incident.agency_id == agency.id,
                                  Incident.period.between(str(periods[0]), str(periods[-1])))
        .order_by(Incident.registered_at)))


def _reviews(office: User, incidents: list[Incident], plans: list[str], until: datetime
             ) -> None:
    """The discipline office handles the cases in order of registration, each a few days
    after it came in (never after `until`); those beyond `plans` still wait."""
    for incident, plan in zip(incidents, plans, strict=False):
        when = min(incident.registered_at + timedelta(days=3), until - timedelta(hours=3))
        case = incident.review
        workflow.act(case, office, ReviewStep.START, workflow.Decision(), when)
        workflow.act(case, office, plan, DECISIONS[plan], when + timedelta(hours=1))


def _confirm(auditors: list[User], year: int, before: datetime, unconfirmed: set[str]) -> None:
    """The personal confirmations, given in the first days they are open."""
    opens = confirmations.opens_on(year)
    for n, user in enumerate(auditors):
        if confirmations.must_confirm(user, year) and user.staff_no not in unconfirmed:
            day = opens + timedelta(days=n % 9)
            confirmations.confirm(user, year, "", min(_at(day, 9, TZ), before))


def _sign(agency: Agency, year: int, office: User, leader: User, at: datetime) -> None:
    draft = signing.prepare(agency, year, office, at - timedelta(hours=2))
    signing.sign(draft, leader, at)


def _registered_after_signing(history: Filer, user: User, year: int, signing: datetime) -> None:
    """Remembered late: a November incident registered after the statement was signed, which
    the discipline office still has to account for with an addendum."""
    occurred = _at(date(year, 11, 18), 15, TZ)
    registered = signing + min(timedelta(days=20), (history.now - signing) / 2)
    history.incident(user, LATE_STORY, Period(year, 11), registered, occurred=occurred,
                     delay_reason="年底整理工作笔记时发现当时未登记，现补登。")


LATE_STORY = ("plead", "phone", "relative_friend", "某物业公司", "经理",
              "以亲戚关系来电说情，请求对其公司承接的老旧小区改造项目结算问题从宽处理。",
              "refused")
TZ = ZoneInfo("Asia/Shanghai")

DECISIONS = {
    ReviewStep.CLOSE: workflow.Decision(
        affected=False, determination="审计人员当场拒绝并如实登记，审计工作未受影响，已阅存档。"),
    ReviewStep.REFER: workflow.Decision(
        affected=False, determination="审计人员拒绝并及时报告，审计工作未受影响；对方行为涉嫌违规，"
        "移送处理。", referred_to="区纪委监委",
        referral_reason="被审计单位负责人要求删减审计发现，涉嫌干预审计。"),
    ReviewStep.RETURN: workflow.Decision(note="请补充对方的原话和在场人员。"),
}


class Filer:
    """Monthly filings and registrations of the demo's auditors, through the portal's rules,
    with a fixed random sequence."""

    def __init__(self, rng: random.Random, auditors: list[User], projects: list[AuditProject],
                 tz: ZoneInfo, now: datetime, main_login: str) -> None:
        self.rng, self.auditors, self.projects, self.tz, self.now = (
            rng, auditors, projects, tz, now)
        self.main_login = main_login
        self.rule = records.deadline_rule(auditors[0].agency)

    def run(self, periods: list[Period], stories: list[tuple], *, until: datetime) -> None:
        """The months `periods`: `stories` spread over them, reports filed before `until`."""
        slots = [(u.id, p) for u in self.auditors for p in periods if records.in_scope(u, p)]
        placed = dict(zip(self.rng.sample(slots, len(stories)), stories, strict=True))
        for period in periods:
            for user in self.auditors:
                left_open = user.staff_no == self.main_login and period == periods[-1] and (
                    period.next() == period_of(self.now, self.tz))
                if left_open or not records.in_scope(user, period):
                    continue  # the main demo login leaves last month open to try filing
                if (user.id, period) in placed:
                    day = period.first_day + timedelta(days=self.rng.randint(0, 25))
                    occurred = _at(day, 15, self.tz)
                    registered = occurred + timedelta(days=self.rng.randint(0, 3))
                    self.incident(user, placed[user.id, period], period,
                                  min(registered, until), occurred=occurred)
                self._report(user, period, until)

    def _report(self, user: User, period: Period, until: datetime) -> None:
        roll = self.rng.random()
        if roll < 0.02 and period.month != 1:
            return  # missing
        due = self.rule.due_date(period)
        late = roll < 0.08
        day = due + timedelta(days=self.rng.randint(1, 6)) if late else due - timedelta(
            days=self.rng.randint(0, 4))
        if _at(day, 10, self.tz) > until:
            return  # early in the month: this one has not filed last month yet
        zero = not records.period_incidents(user, period)
        records.file_report(user, period, zero=zero, now=_at(day, 10, self.tz))

    def incident(self, user: User, story: tuple, period: Period, registered: datetime, *,
                 occurred: datetime, delay_reason: str = "") -> Incident:
        category, channel, relation, org, position, text, response = story
        data = records.IncidentData(
            occurred_at=occurred, category=category, channel=channel,
            actor_name=self.rng.choice(["张某某", "李某", "王某某", "陈某"]), actor_org=org,
            actor_position=position, actor_relation=relation,
            project_id=self.rng.choice(self.projects).id,
            stage=self.rng.choice(["fieldwork", "reporting"]), description=text,
            response=response, delay_reason=delay_reason,
        )
        return records.register_incident(user, data, [], registered)


RULES_TEXT = """《天津市审计机关打探干预审计事项行为登记报告办法（试行）》要点

一、审计人员对任何单位和个人打探、干预审计事项的行为，应当如实、及时登记，每月报告；当月没有的，报告“零报告”。
二、月度报告于次月5日前完成。逾期仍可补报，系统标记为逾期。
三、登记内容仅本人和机关纪委可见，局领导、系统管理员不能查看具体内容。
四、属于职责范围内的正常过问（履职过问），如实登记备案，单独统计，不作为干预行为。
五、对如实登记报告的审计人员予以保护；对不登记、不报告或者隐瞒不报的，依规依纪处理。"""
