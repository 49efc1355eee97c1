"""Filing maintenance: `evidence import-files`, `tally rebuild`.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.core import auditlog
from app.core.extensions import db
from app.filing import evidence, tally

evidence_group = AppGroup("evidence", help="Evidence files.")


@evidence_group.command("import-files")
def evidence_import_command() -> None:
    """Copy evidence files kept under EVIDENCE_DIR (before they moved into the database) into
    the database, each checked against its SHA-256; run once after upgrading."""
    result = evidence.import_files()
    if result.copied:
        auditlog.record("evidence.imported", None, count=result.copied)
    db.session.commit()
    for problem in result.problems:
        click.echo(problem, err=True)
    click.echo(f"{result.copied} file(s) copied into the database, {len(result.problems)} "
               "problem(s). Keep EVIDENCE_DIR until `flask audit verify` says OK.")
    if result.problems:
        raise SystemExit(1)


tally_group = AppGroup("tally", help="The filing tally behind the compliance trend.")


@tally_group.command("rebuild")
def tally_rebuild_command() -> None:
    """Recompute the tally from the reports (after loading reports around the portal)."""
    rows = tally.rebuild()
    auditlog.record("tally.rebuilt", None, rows=rows)
    db.session.commit()
    click.echo(f"Tally rebuilt: {rows} agency-period rows.")
