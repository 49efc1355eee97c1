"""The home page of each role at a glance: leaders (the year, the statement, 待您签发), the
discipline office (its cases, who has not filed), administrators (what is not set up)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.filing.workcalendar import official_calendar_covers
from tests.helpers import factories
from tests.helpers.statement import prepare_and_sign, signed_in
from tests.helpers.web import post_form


def home(app, user) -> str:
    return signed_in(app, user).get("/").get_data(as_text=True)


def test_the_leader_sees_the_year_and_the_draft_waiting_for_their_signature(app, db, year):
    people, _cases = year
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    page = home(app, people["leader"])
    assert "2025年度概况" in page
    assert "月度报告已报 32 份，应报 34 份（逾期报送 1 份，逾期未报 2 份）" in page
    assert "尚未办结的审核：1 件" in page and "认定影响审计独立性的违规情形：1 起" in page
    assert 'data-testid="awaiting-signature"' in page and "待您签发" in page
    assert 'href="/statement/2025"' in page
    assert "来电请求从轻处理" not in page  # no incident content
    prepare_and_sign(app, people)
    page = home(app, people["leader"])
    assert "待您签发" not in page and "2025年度报告：已于" in page and "签发并锁定" in page


def test_a_draft_of_the_year_in_progress_does_not_wait_for_a_signature(app, db, year, frozen):
    people, _cases = year
    frozen.value = datetime(2025, 12, 2, 2, tzinfo=UTC)
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    page = home(app, people["leader"])
    assert "待您签发" not in page and "2025年度报告：草稿已于" in page


def test_a_leader_who_prepared_the_draft_is_not_asked_to_sign_it(app, db, year, make_user):
    both = make_user(name="兼任者", staff_no="RL1", roles={"reviewer", "leader"})
    client = signed_in(app, both)
    post_form(client, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    assert "待您签发" not in client.get("/").get_data(as_text=True)


def test_the_discipline_office_sees_its_cases_and_who_has_not_filed(app, db, year, frozen):
    people, _cases = year
    frozen.value = datetime(2025, 7, 10, 2, tzinfo=UTC)  # June is overdue: 乙 never filed it
    page = home(app, people["reviewer"])
    # 甲's case is closed, 乙's referred; 丙's inquiry is new.
    assert 'href="/review/?status=new" data-testid="cases-new" data-count="1"' in page
    assert 'data-testid="cases-returned" data-count="0"' in page
    assert "2025年6月未报送（截止 2025-07-05 23:59）：1 人" in page
    non_filers = page.split('data-testid="non-filers"')[1].split("</p>")[0]
    assert "乙" in non_filers and "甲" not in non_filers


def test_the_administrator_sees_what_is_not_set_up(app, db, agency, make_user, frozen):
    frozen.value = datetime(2026, 12, 1, 2, tzinfo=UTC)
    admin = make_user(name="管理员", staff_no="AD1", roles={"admin"})
    make_user(name="无邮箱", staff_no="N01", email=None)
    page = home(app, admin)
    assert "尚未设置邮件服务器" in page
    assert "1 个在用账号没有电子邮箱" in page
    for year_ in (2026, 2027):
        assert (f"{year_}年官方节假日安排尚未安装" in page) != official_calendar_covers(year_)
    assert factories.PASSWORD not in page


def test_the_administrator_is_told_that_e_mails_wait_without_a_mail_server(app, db, make_user,
                                                                           frozen, monkeypatch):
    from app.notices import outbox
    from app.notices.outbox import Notice

    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    admin = make_user(name="管理员", staff_no="AD1", roles={"admin"})
    person = make_user(name="王芳")
    outbox.enqueue([Notice(person.id, "overdue", "2025-03", 1, person.email,
                           {"due": "2025-04-07"})], frozen())
    db.session.commit()
    page = home(app, admin)
    assert "尚未设置邮件服务器：不会发送任何邮件。" in page and "只显示在平台的通知栏中" in page
    assert 'data-testid="gap-mail-waiting"' in page and "1 封邮件正在等待发送" in page
    assert 'href="/notices/outbox"' in page
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.org")
    assert 'data-testid="gap-mail"' not in home(app, admin)
