"""Flask extensions, created unbound here and initialised in `create_app`."""

import sqlite3

import sqlalchemy as sa
from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so that Alembic migrations work the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_journal(connection: object, _record: object) -> None:
    """SQLite in WAL mode, still syncing every commit (synchronous=FULL).

    A commit then costs one fsync of the log instead of the rollback journal's several (a
    sixth of the time: the outbox records every e-mail in a commit of its own), readers no
    longer block the writer (two web workers and the scheduler), and a commit is as durable
    as before, against a killed process and a power cut alike. synchronous=NORMAL would save
    the fsync too, but a power cut could then undo commits already made: e-mails recorded as
    sent would go out again. The mode is kept in the database file; in-memory databases keep
    theirs. secure_delete: what is deleted or overwritten (a held file, a session's sealed
    key) is zeroed in the file, not left in its free pages.
    """
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
