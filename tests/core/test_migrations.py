"""The Alembic migrations build exactly the models' schema, and take it down again.

Each test works on a database of its own (a new SQLite file, or a new PostgreSQL database next to
the one TEST_DATABASE_URL names), never on the schema the other tests share.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import create_app
from app.compliance import rates
from app.core.extensions import db
from app.statement import figures

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = str(ROOT / "migrations")


@pytest.fixture
def keep_logging():
    """Alembic's env.py calls logging.config.fileConfig, which disables every logger that exists
    and replaces the root logger's handlers: put them back so later tests still see their logs."""
    root = logging.getLogger()
    saved_root = (root.level, root.handlers[:])
    loggers = [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = {logger: (logger.disabled, logger.level, logger.handlers[:]) for logger in loggers}
    yield
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    for logger, (disabled, level, handlers) in saved.items():
        logger.disabled, logger.level, logger.handlers[:] = disabled, level, handlers


def _server_url() -> sa.URL | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    return sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))


@pytest.fixture
def empty_database(tmp_path):
    """The URL of a database with nothing in it, removed after the test."""
    server = _server_url()
    if server is None:
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}"
        return
    name = f"portal_migrate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrate_app(empty_database, keep_logging):
    """An app of its own on the empty database, inside its app context."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _schema_differences() -> list:
    with db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_on_an_empty_database_gives_the_models_schema(migrate_app):
    assert _tables() == set()
    flask_migrate.upgrade(directory=MIGRATIONS)
    assert _tables() == set(db.metadata.tables) | {"alembic_version"}
    assert _schema_differences() == []


def test_the_comparison_notices_a_difference(migrate_app):
    """Not vacuous: a schema that lacks an index of the models is reported."""
    flask_migrate.upgrade(directory=MIGRATIONS)
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_incident_period"))
    differences = _schema_differences()
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_incident_period"


def test_downgrade_to_base_leaves_no_tables(migrate_app):
    flask_migrate.upgrade(directory=MIGRATIONS)
    flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
    assert _tables() == {"alembic_version"}
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 0


def test_upgrade_again_after_downgrade(migrate_app):
    flask_migrate.upgrade(directory=MIGRATIONS)
    flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
    flask_migrate.upgrade(directory=MIGRATIONS)
    assert _schema_differences() == []


def test_migrations_have_a_single_head(migrate_app):
    from alembic.script import ScriptDirectory

    config = migrate_app.extensions["migrate"].migrate.get_config(MIGRATIONS)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "PORTAL_CONFIG", "PORTAL_INSTANCE_DIR", "FLASK_APP"}}
    return {**env, **extra}


def test_flask_db_check_after_upgrade_on_sqlite(tmp_path):
    """The real commands, as the Makefile runs them, on the default SQLite file."""
    env = _cli_env(PORTAL_INSTANCE_DIR=str(tmp_path))
    upgrade = _flask(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "portal.sqlite").exists()
    check = _flask(env, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


@pytest.mark.skipif(_server_url() is None, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_flask_db_check_after_upgrade_on_postgresql(empty_database, tmp_path):
    env = _cli_env(PORTAL_INSTANCE_DIR=str(tmp_path), DATABASE_URL=empty_database)
    upgrade = _flask(env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    check = _flask(env, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    assert not (tmp_path / "portal.sqlite").exists()


def test_the_tally_migration_counts_the_reports_already_filed(migrate_app):
    """Upgrading a portal that has reports fills the filing tally from them."""
    flask_migrate.upgrade(directory=MIGRATIONS, revision="d0e5ec8916ec")
    statements = [
        "INSERT INTO agency (id, name, timezone, deadline_day, shift_to_workday, rules_text,"
        " created_at) VALUES (1, 'A', 'Asia/Shanghai', 5, false, '', '2025-01-01 00:00:00')",
        "INSERT INTO \"user\" (id, agency_id, staff_no, name, active, joined_on,"
        " session_version, failed_logins, created_at) VALUES"
        " (1, 1, 'S1', 'N', true, '2024-01-01', 1, 0, '2025-01-01 00:00:00'),"
        " (2, 1, 'S2', 'N', true, '2024-01-01', 1, 0, '2025-01-01 00:00:00')",
        "INSERT INTO monthly_report (id, user_id, period, first_filed_at, late) VALUES"
        " (1, 1, '2025-03', '2025-04-01 00:00:00', false),"
        " (2, 2, '2025-03', '2025-04-09 00:00:00', true)",
        # report 1: zero, then corrected to list incidents; report 2: zero
        "INSERT INTO report_version (id, report_id, number, is_zero, declared, reason,"
        " submitted_at, submitted_from) VALUES (1, 1, 1, true, true, '', '2025-04-01', ''),"
        " (2, 1, 2, false, true, 'x', '2025-04-02', ''),"
        " (3, 2, 1, true, true, '', '2025-04-09', '')",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    flask_migrate.upgrade(directory=MIGRATIONS, revision="3f1c2a9b7d40")
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT agency_id, period, filed, late, with_incidents FROM filing_tally")).all()
    assert [tuple(r) for r in rows] == [(1, "2025-03", 2, 1, 1)]


def _checks_in_models() -> set[tuple[str, str]]:
    return {(table.name, constraint.name) for table in db.metadata.tables.values()
            for constraint in table.constraints if isinstance(constraint, sa.CheckConstraint)}


def _checks_in_database() -> set[tuple[str, str]]:
    inspector = sa.inspect(db.engine)
    return {(table, check["name"]) for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)}


def test_the_migrations_give_every_check_of_the_models(migrate_app):
    """Alembic's comparison does not look at CHECK constraints: this test does."""
    flask_migrate.upgrade(directory=MIGRATIONS)
    assert ("user_role", "ck_user_role_role") in _checks_in_models()
    assert _checks_in_models() <= _checks_in_database()


@pytest.mark.parametrize("statement", [
    "UPDATE user_role SET role = 'superuser'",
    "UPDATE user_role SET role = 'Reviewer'",
])
def test_the_database_refuses_a_code_outside_its_set(app, db, statement):
    """Written past the portal's rules (an operator's SQL, a bug): the database says no."""
    from tests.helpers import factories

    factories.UserFactory(roles={"auditor"})
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text(statement))
        db.session.flush()
    db.session.rollback()


def _utc(value) -> str:
    """A timestamp read with plain SQL (a string on SQLite, aware on PostgreSQL), as UTC text."""
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def test_the_review_deadline_migration_dates_each_case_from_its_history(migrate_app):
    """Days waiting count from the last change of status (a comment is none); the deadline
    from the registration or the last supplement."""
    flask_migrate.upgrade(directory=MIGRATIONS, revision="c12c0de5e7a1")
    statements = [
        "INSERT INTO agency (id, name, timezone, deadline_day, shift_to_workday, rules_text,"
        " created_at, document_number_pattern) VALUES (1, 'A', 'Asia/Shanghai', 5, false, '',"
        " '2025-01-01 00:00:00', '')",
        "INSERT INTO \"user\" (id, agency_id, staff_no, name, active, joined_on,"
        " session_version, failed_logins, created_at) VALUES"
        " (1, 1, 'S1', 'N', true, '2024-01-01', 1, 0, '2025-01-01 00:00:00')",
        "INSERT INTO incident (id, agency_id, user_id, period, registered_at, after_signing)"
        " VALUES (1, 1, 1, '2025-03', '2025-03-03 02:00:00', false),"
        " (2, 1, 1, '2025-03', '2025-03-04 02:00:00', false),"
        " (3, 1, 1, '2025-03', '2025-03-05 02:00:00', false)",
        "INSERT INTO review (id, incident_id, status, determination, referred_to,"
        " referral_reason, updated_at) VALUES"
        " (1, 1, 'in_review', '', '', '', '2025-03-12 02:00:00'),"
        " (2, 2, 'in_review', '', '', '', '2025-03-20 02:00:00'),"
        " (3, 3, 'new', '', '', '', '2025-03-05 02:00:00')",
        "INSERT INTO review_action (id, review_id, actor_id, at, action, from_status, to_status,"
        " note, for_registrant) VALUES"
        " (1, 1, 1, '2025-03-10 02:00:00', 'start', 'new', 'in_review', '', false),"
        " (2, 1, 1, '2025-03-12 02:00:00', 'comment', 'in_review', 'in_review', 'x', false),"
        " (3, 2, 1, '2025-03-15 02:00:00', 'return', 'new', 'returned', 'x', true),"
        " (4, 2, 1, '2025-03-20 02:00:00', 'supplement', 'returned', 'in_review', 'x', true)",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    flask_migrate.upgrade(directory=MIGRATIONS)
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT id, changed_at, waiting_since FROM review ORDER BY id")).all()
        agency = connection.execute(sa.text(
            "SELECT review_due_days, review_digest FROM agency")).one()
    assert [(i, _utc(c), _utc(w)) for i, c, w in rows] == [
        (1, "2025-03-10 02:00:00", "2025-03-03 02:00:00"),
        (2, "2025-03-20 02:00:00", "2025-03-20 02:00:00"),
        (3, "2025-03-05 02:00:00", "2025-03-05 02:00:00"),
    ]
    assert tuple(agency) == (10, False)


def test_the_employment_migration_gives_each_account_one_period(migrate_app):
    """Each existing account gets one period from its agency, department and dates, owning
    the months from the one it joined in to the one it left in (as scope read them before)."""
    flask_migrate.upgrade(directory=MIGRATIONS, revision="1beaa5cab97c")
    statements = [
        "INSERT INTO agency (id, name, timezone, deadline_day, shift_to_workday, rules_text,"
        " created_at, document_number_pattern) VALUES (1, 'A', 'Asia/Shanghai', 5, false, '',"
        " '2025-01-01 00:00:00', '')",
        "INSERT INTO department (id, agency_id, name, archived) VALUES (1, 1, 'D', false)",
        "INSERT INTO \"user\" (id, agency_id, department_id, staff_no, name, active, joined_on,"
        " left_on, session_version, failed_logins, created_at) VALUES"
        " (1, 1, 1, 'S1', 'N', true, '2024-01-31', NULL, 1, 0, '2025-01-01 00:00:00'),"
        " (2, 1, NULL, 'S2', 'N', false, '2024-03-01', '2025-04-01', 1, 0,"
        " '2025-01-01 00:00:00')",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    flask_migrate.upgrade(directory=MIGRATIONS, revision="f2912636f349")
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT user_id, agency_id, department_id, started_on, ended_on, first_period,"
            " last_period FROM employment ORDER BY user_id")).all()
    assert [(u, a, d, str(s), e and str(e), f, la) for u, a, d, s, e, f, la in rows] == [
        (1, 1, 1, "2024-01-31", None, "2024-01", None),
        (2, 1, None, "2024-03-01", "2025-04-01", "2024-03", "2025-04")]


def test_the_headline_migration_gives_each_statement_its_figures_headline(migrate_app):
    """A statement prepared or signed before the headline existed gets the one its figures
    give (so it still verifies); a row without computed figures keeps '{}'."""
    flask_migrate.upgrade(directory=MIGRATIONS, revision="c4e8a1f0b2d3")
    counted = figures.Figures(
        year=2025, staff=3, staff_full_year=3, staff_months=36, partial_staff=[],
        reports=rates.Figures(), months=[], missing_reports=[], incidents=2,
        by_kind={"probe": 2}, by_category={"ask_progress": 2}, by_channel={"phone": 2},
        by_month={"2025-03": 2}, by_relation={"superior": 1, "colleague": 1},
        by_disposition={"closed": 2}, open_reviews=0, open_by_month={}, referrals=1,
        violations=1, violations_by_month={"2025-03": 1}, confirmations_expected=3,
        confirmations_given=3)
    with db.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO agency (id, name, timezone, deadline_day, shift_to_workday, rules_text,"
            " created_at, document_number_pattern) VALUES (1, 'A', 'Asia/Shanghai', 5, false,"
            " '', '2025-01-01 00:00:00', '')"))
        connection.execute(sa.text(
            "INSERT INTO \"user\" (id, agency_id, staff_no, name, active, joined_on,"
            " session_version, failed_logins, created_at) VALUES"
            " (1, 1, 'S1', 'N', true, '2024-01-31', 1, 0, '2025-01-01 00:00:00')"))
        for statement_id, year, stored in ((1, 2025, counted.to_json()), (2, 2026, "{}")):
            connection.execute(sa.text(
                "INSERT INTO annual_statement (id, agency_id, year, status, figures,"
                " records_digest, prepared_by_id, prepared_at, log_head, log_count,"
                " document_number) VALUES (:id, 1, :year, 'draft', :figures, '', 1,"
                " '2026-01-10 00:00:00', '', 0, '')"),
                {"id": statement_id, "year": year, "figures": stored})
    flask_migrate.upgrade(directory=MIGRATIONS, revision="d5f9b2c1e7a4")
    with db.engine.connect() as connection:
        headlines = connection.execute(sa.text(
            "SELECT headline FROM annual_statement ORDER BY id")).scalars().all()
    assert headlines == [counted.headline(), "{}"]
