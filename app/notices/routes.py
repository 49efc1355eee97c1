"""The bell (every signed-in user) and the outbox page (administrators).

Neither shows incident content: notices never hold any (see app/notices/outbox.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.core import access, auditlog, clock, mailsettings
from app.core.access import ADMINISTER, require
from app.core.codes import Channel, NoticeStatus
from app.core.extensions import db
from app.models import Outbox, User
from app.notices import channels, outbox, testmail, texts
from app.notices.blueprint import bp
from app.notices.cli import reminders_group, scheduler_command
from app.notices.forms import MarkReadForm, RetryForm, TestMailForm

bp.cli.add_command(reminders_group)
bp.cli.add_command(scheduler_command)
BELL_SIZE = 50
OUTBOX_SIZE = 100


def _mine() -> sa.ColumnElement[bool]:
    return sa.and_(Outbox.user_id == current_user.id, Outbox.kind.not_in(outbox.MAIL_ONLY),
                   Outbox.channel == Channel.EMAIL)  # a channel's copy is not a second notice


@bp.app_context_processor
def unread_count() -> dict:
    """`unread_notices` for the bell in the navigation bar; one COUNT per page."""
    if not current_user.is_authenticated:
        return {"unread_notices": 0}
    return {"unread_notices": db.session.scalar(
        sa.select(sa.func.count()).select_from(Outbox).where(_mine(), Outbox.read_at.is_(None)))}


@bp.get("/")
@login_required
def bell():
    rows = db.session.scalars(
        sa.select(Outbox).where(_mine()).order_by(Outbox.id.desc()).limit(BELL_SIZE)).all()
    notices = [(row, texts.content(row)) for row in rows]
    return render_template("notices/bell.html", notices=notices, form=MarkReadForm())


@bp.post("/read")
@login_required
def mark_read():
    if MarkReadForm().validate_on_submit():
        db.session.execute(sa.update(Outbox).where(_mine(), Outbox.read_at.is_(None))
                           .values(read_at=clock.now()))
        db.session.commit()
    return redirect(url_for("notices.bell"))


@bp.get("/outbox")
@require(ADMINISTER)
def outbox_page():
    return _outbox_page(TestMailForm())


def _outbox_page(form: TestMailForm):
    scope = access.outbox_scope(current_user)
    counts = dict(db.session.execute(
        sa.select(Outbox.status, sa.func.count()).where(scope).group_by(Outbox.status)).all())
    # Rows still waiting or failed first, then the latest sent.
    rows = db.session.execute(
        sa.select(Outbox, User.staff_no, User.name).outerjoin(User, User.id == Outbox.user_id)
        .where(scope).order_by((Outbox.status == NoticeStatus.SENT).asc(), Outbox.id.desc())
        .limit(OUTBOX_SIZE)).all()
    return render_template("notices/outbox.html", counts=counts, rows=rows, form=form,
                           kinds=outbox.KINDS, statuses=outbox.STATUSES, channels=channels.LABELS,
                           failures=outbox.FAILURES, retryable=outbox.RETRYABLE,
                           retry_form=RetryForm(),
                           mail_server=bool(mailsettings.effective().smtp_host))


@bp.post("/outbox/<int:row_id>/retry")
@require(ADMINISTER)
def retry(row_id: int):
    row = db.session.scalar(sa.select(Outbox).where(Outbox.id == row_id,
                                                    access.outbox_scope(current_user)))
    if row is None or not RetryForm().validate_on_submit():
        abort(404 if row is None else 400)
    if outbox.retry([row.id]):
        auditlog.record("outbox.retry", row, kind=row.kind, period=row.period)
        flash(_("The notice will be sent again with the next round."), "success")
    else:
        flash(_("This notice cannot be sent again."), "warning")
    db.session.commit()
    return redirect(url_for("notices.outbox_page"))


@bp.post("/outbox/test")
@require(ADMINISTER)
def test_mail():
    form = TestMailForm()
    if not form.validate_on_submit():
        return _outbox_page(form), 400
    flash(*testmail.send(form.address.data.strip()))
    return redirect(url_for("notices.outbox_page"))
