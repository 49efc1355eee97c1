"""Backup archives: one tar file holding everything the portal keeps, and its restore.

Members: ``database.sqlite`` (SQLite's online backup API: a consistent copy while the portal
writes) or ``database.pgdump`` (``pg_dump`` custom format, run on a snapshot exported by the
transaction that also reads the audit log's head, so the manifest describes exactly the dump);
``config.json``, the configuration without its secrets; and ``manifest.json`` with the SHA-256
of every other member, the schema revision and the audit log's entry count and head hash.
Evidence lives in the database, so the database is the whole record.

SECRET_KEY is never in an archive: it must be kept apart (it decrypts the stored SMTP
password and signs sessions). Restore goes into an empty database only, after checking every
digest, and checks that the restored log ends at the manifest's head.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from app.core import clock
from app.core.extensions import db
from app.models import AuditLog

FORMAT = "audit-independence-portal-backup/1"
MANIFEST = "manifest.json"
CONFIG = "config.json"
DATABASE = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for the operator."""


@dataclass(frozen=True)
class Snapshot:
    """What the dumped database holds, read inside its snapshot."""

    entries: int
    head: str
    schema: list[str]


def _digest(stream: io.BufferedIOBase) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(2**20), b""):
        digest.update(block)
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return _digest(stream)


def _snapshot(connection: sa.Connection) -> Snapshot:
    log = AuditLog.__table__
    entries = connection.scalar(sa.select(sa.func.count()).select_from(log))
    head = connection.scalar(sa.select(log.c.hash).order_by(log.c.id.desc()).limit(1))
    has_version = sa.inspect(connection).has_table("alembic_version")
    schema = sorted(connection.scalars(sa.text("SELECT version_num FROM alembic_version"))
                    ) if has_version else []
    return Snapshot(entries, head or "", schema)


def _dialect() -> str:
    name = db.engine.dialect.name
    if name not in DATABASE:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {name}.")
    return name


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump / pg_restore, the password passed in the environment (not on a
    command line that `ps` shows)."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools of the "
                          "server's major version (Debian: postgresql-client).")
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    # The command is ours: a tool found on PATH and the configured database's URL.
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603
    if result.returncode:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")


def _dump_sqlite(target: Path) -> Snapshot:
    source = db.engine.raw_connection()
    try:
        copy = sqlite3.connect(target)
        source.driver_connection.backup(copy)  # one step: a consistent copy
        copy.close()
    finally:
        source.close()
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.connect() as connection:
        snapshot = _snapshot(connection)
    engine.dispose()
    return snapshot


def _dump_postgresql(target: Path) -> Snapshot:
    url, env = _libpq(db.engine.url)
    repeatable = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with repeatable as connection, connection.begin():  # the snapshot lives while pg_dump reads
        name = connection.scalar(sa.text("SELECT pg_export_snapshot()"))
        snapshot = _snapshot(connection)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
              f"--snapshot={name}", f"--file={target}", f"--dbname={url}"], env)
    return snapshot


def public_config() -> dict[str, str]:
    """The configuration that may travel in an archive: no secret, no database password."""
    config = current_app.config
    public = {name: str(config[name]) for name in sorted(config)
              if name.isupper() and not any(word in name for word in SECRET_WORDS)}
    public["SQLALCHEMY_DATABASE_URI"] = db.engine.url.render_as_string(hide_password=True)
    return public


def create(archive: Path) -> dict:
    """Write the archive (to a temporary name, renamed when complete); returns its manifest."""
    dialect = _dialect()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        database = folder / DATABASE[dialect]
        snapshot = (_dump_sqlite if dialect == "sqlite" else _dump_postgresql)(database)
        (folder / CONFIG).write_text(json.dumps(public_config(), ensure_ascii=False, indent=1),
                                     encoding="utf-8")
        members = [database.name, CONFIG]
        manifest = {
            "format": FORMAT, "created_at": clock.now().isoformat(), "dialect": dialect,
            "schema": snapshot.schema, "evidence": "in the database",
            "audit_log": {"entries": snapshot.entries, "head": snapshot.head},
            "files": {name: _file_digest(folder / name) for name in members},
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            for name in [MANIFEST, *members]:
                tar.add(folder / name, arcname=name)
        partial.replace(archive)
    return manifest


def verify(archive: Path) -> tuple[dict, list[str]]:
    """The manifest and what does not match it (empty: every member is there and intact)."""
    try:
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile(MANIFEST))
            if manifest.get("format") != FORMAT:
                return manifest, [f"not a portal backup ({manifest.get('format')})"]
            found = {m.name: _digest(tar.extractfile(m)) for m in tar.getmembers()
                     if m.isfile() and m.name != MANIFEST}
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        return {}, [f"unreadable archive: {error}"]
    problems = [f"{name}: missing" for name in manifest["files"] if name not in found]
    problems += [f"{name}: SHA-256 does not match" for name, digest in manifest["files"].items()
                 if name in found and found[name] != digest]
    problems += [f"{name}: not listed in the manifest" for name in found
                 if name not in manifest["files"]]
    return manifest, problems


def _ensure_empty() -> None:
    tables = sa.inspect(db.engine).get_table_names()
    if tables:
        url = db.engine.url.render_as_string(hide_password=True)
        raise BackupError(f"The database {url} is not empty ({len(tables)} tables): a backup "
                          "is restored only into an empty database. Create a new one and "
                          "point DATABASE_URL at it.")


def _load_sqlite(dump: Path) -> None:
    source = sqlite3.connect(dump)
    target = db.engine.raw_connection()
    try:
        source.backup(target.driver_connection)
    finally:
        target.close()
        source.close()


def _load_postgresql(dump: Path) -> None:
    url, env = _libpq(db.engine.url)
    _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
          "--single-transaction", f"--dbname={url}", str(dump)], env)


def restore(archive: Path) -> dict:
    """Load a verified archive into the (empty) configured database; returns its manifest."""
    manifest, problems = verify(archive)
    if problems:
        raise BackupError("The archive does not verify: " + "; ".join(problems))
    dialect = _dialect()
    if manifest["dialect"] != dialect:
        raise BackupError(f"The archive holds a {manifest['dialect']} database; this portal "
                          f"is configured for {dialect}.")
    _ensure_empty()
    with tempfile.TemporaryDirectory() as work, tarfile.open(archive) as tar:
        dump = Path(work) / DATABASE[dialect]
        with dump.open("wb") as out:
            shutil.copyfileobj(tar.extractfile(DATABASE[dialect]), out, 2**20)
        (_load_sqlite if dialect == "sqlite" else _load_postgresql)(dump)
    db.engine.dispose()
    with db.engine.connect() as connection:
        restored = _snapshot(connection)
    expected = manifest["audit_log"]
    if (restored.entries, restored.head) != (expected["entries"], expected["head"]):
        raise BackupError(f"The restored audit log ends at {restored.head} "
                          f"({restored.entries} entries), the manifest says {expected['head']} "
                          f"({expected['entries']}).")
    return manifest
