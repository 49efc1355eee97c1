"""`flask --app wsgi statement verify 2025` and `statement build 2025 --pdf out.pdf`."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask_babel import force_locale

from app.core import clock
from app.core.extensions import db
from app.models import Agency, AnnualStatement
from app.statement import digest, figures
from app.statement.blueprint import bp
from app.statement.document import pdf_bytes, xlsx_bytes


def _statement(year: int, agency_name: str | None) -> AnnualStatement:
    query = sa.select(AnnualStatement).join(Agency).where(AnnualStatement.year == year)
    if agency_name:
        query = query.where(Agency.name == agency_name)
    found = db.session.scalars(query.limit(2)).all()
    if not found:
        raise click.ClickException(f"No statement for {year}: the discipline office prepares "
                                   "it in the portal.")
    if len(found) > 1:
        raise click.ClickException("Several agencies have one: name the agency with --agency.")
    return found[0]


@bp.cli.command("verify")
@click.argument("year", type=int)
@click.option("--agency", "agency_name", default=None)
def verify_command(year: int, agency_name: str | None) -> None:
    """Recompute the signed statement's figures and records digest; exit 1 on a mismatch."""
    item = _statement(year, agency_name)
    try:
        verdict = digest.verify(item)
    except figures.StatementError as refused:
        raise click.ClickException(str(refused)) from None
    if verdict.ok:
        click.echo(f"MATCH: the record of {year} still gives the signed statement "
                   f"(digest {verdict.digest}).")
        return
    click.echo(f"MISMATCH: the record of {year} no longer gives the signed statement.", err=True)
    click.echo(f"  signed digest:   {verdict.signed_digest}", err=True)
    click.echo(f"  records digest:  {verdict.digest}", err=True)
    click.echo(f"  figures: {'same' if verdict.figures_match else 'different'}", err=True)
    if verdict.log_problem:
        click.echo(f"  audit log: {verdict.log_problem}", err=True)
    raise SystemExit(1)


@bp.cli.command("build")
@click.argument("year", type=int)
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The discipline office's appendix (with the incident table).")
@click.option("--agency", "agency_name", default=None)
@click.option("--locale", default="zh_CN", show_default=True, type=click.Choice(["zh_CN", "en"]))
def build_command(year: int, pdf_path: Path | None, xlsx_path: Path | None,
                  agency_name: str | None, locale: str) -> None:
    """Write the statement's PDF (as the portal serves it) and/or its XLSX appendix."""
    if not pdf_path and not xlsx_path:
        raise click.UsageError("Give --pdf FILE and/or --xlsx FILE.")
    item = _statement(year, agency_name)
    with force_locale(locale):
        if pdf_path:
            pdf_path.write_bytes(pdf_bytes(item, clock.now()))
            click.echo(f"PDF written: {pdf_path}")
        if xlsx_path:
            xlsx_path.write_bytes(xlsx_bytes(item, clock.now(), with_incidents=True))
            click.echo(f"XLSX written: {xlsx_path}")
