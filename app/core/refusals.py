"""One family for every rule that says no, and one way for a view to show it.

A rule raises `Refused` (or a subclass named after its area) with a message for the user, in
their language. `attempt` is the shape of every view that performs a step: run it; if it is
refused, undo whatever it flushed, show the message and the page again with the refusal's
status (409: the records' state forbids it; 400: the input does; 403: the person may not);
otherwise commit once, say what was done and redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import Field

from app.core.extensions import db


class Refused(ValueError):
    """A step a rule refuses; `str()` is the message for the user."""

    status = 409
    category = "danger"
    # A refusal that is no error for the user (e.g. "already filed"): nothing to fix on the
    # form, so the view goes on to where the step would have led.
    goes_on = False

    def after_rollback(self) -> None:
        """What must be kept of a refused attempt (e.g. an audit entry), in its own commit."""


class Invalid(Refused):
    """Refused for what was entered, not for the state of the records."""

    status = 400


def attempt(step: Callable[[], Any], *, done: str | Callable[[Any], str] | None,
            then: str | Callable[[Any], str | ResponseReturnValue],
            again: Callable[[int], ResponseReturnValue],
            show_on: Field | FlaskForm | None = None) -> ResponseReturnValue:
    """Run `step` in the request's transaction and answer the way every view does.

    `done` (a text, or a function of the step's result) is flashed after the commit, `then` is
    where to go next; `again(status)` renders the page again when the step is refused, with
    the message next to the field it concerns (`show_on`), above the form, or at the top.
    A `then` that gives a response instead of an address shows what may be shown only once
    (a new account's sign-in link).
    """
    try:
        result = step()
    except Refused as refused:
        db.session.rollback()
        refused.after_rollback()
        show(refused, show_on)
        if refused.goes_on and isinstance(then, str):
            return redirect(then)
        return again(refused.status)
    db.session.commit()
    if done is not None:
        flash(done(result) if callable(done) else done, "success")
    target = then(result) if callable(then) else then
    return redirect(target) if isinstance(target, str) else target


def refused_by(check: Callable[[], Any]) -> Refused | None:
    """Run a check that changes nothing (e.g. before asking to confirm a step): its refusal,
    if any, for `show`."""
    try:
        check()
    except Refused as refused:
        return refused
    return None


def show(refused: Refused, show_on: Field | FlaskForm | None = None) -> None:
    """The refusal's message next to the field it concerns, above the form, or at the top."""
    message = str(refused)
    if isinstance(show_on, FlaskForm):
        show_on.form_errors.append(message)
    elif show_on is not None:
        show_on.errors = [*show_on.errors, message]
    else:
        flash(message, refused.category)
