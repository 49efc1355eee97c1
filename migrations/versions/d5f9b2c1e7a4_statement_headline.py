"""the statement's headline: the counts an agency tree's roll-up reads of it

A city's roll-up reads, of each of thousands of signed statements, its incidents, referrals,
violations and five breakdowns. Parsing each whole statement for them took PostgreSQL 420 ms
for 1,500 statements; the headline keeps those fields (JSON, a few hundred bytes) beside the
figures, written with them, and `statement verify` checks that it still says what they say.
Existing statements get theirs from their figures here.

Revision ID: d5f9b2c1e7a4
Revises: c4e8a1f0b2d3
Create Date: 2026-12-03 06:50:00.000000

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5f9b2c1e7a4'
down_revision = 'c4e8a1f0b2d3'
branch_labels = None
depends_on = None

# app/statement/figures.py HEADLINE, as it stands at this revision.
HEADLINE = ("incidents", "referrals", "violations", "by_kind", "by_category", "by_channel",
            "by_relation", "by_disposition")


def upgrade():
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headline', sa.Text(), nullable=False,
                                      server_default='{}'))
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.alter_column('headline', server_default=None)
    bind = op.get_bind()
    statements = sa.table('annual_statement', sa.column('id', sa.Integer),
                          sa.column('figures', sa.Text), sa.column('headline', sa.Text))
    rows = bind.execute(sa.select(statements.c.id, statements.c.figures)).all()
    for statement_id, figures in rows:
        data = json.loads(figures or "{}")
        if not all(name in data for name in HEADLINE):
            continue  # not a computed statement (none is stored so): left at '{}'
        headline = json.dumps({name: data[name] for name in HEADLINE}, ensure_ascii=False,
                              sort_keys=True)
        bind.execute(sa.update(statements).where(statements.c.id == statement_id)
                     .values(headline=headline))


def downgrade():
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.drop_column('headline')
