"""The floor of bench/web.py: a bare Flask page reading 12 rows of the portal's database and
rendering them in a template, served by gunicorn exactly as the portal is. A page of the
portal cannot be faster than this; `bench/web.py` prints each page's throughput as a ratio of
this one's, measured in the same run."""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, render_template_string

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
</head><body><main><h1>{{ title }}</h1><table>{% for row in rows %}
<tr><td>{{ row.staff_no }}</td><td>{{ row.name }}</td><td>{{ row.email or '' }}</td></tr>
{% endfor %}</table></main></body></html>"""

app = Flask(__name__)
engine = sa.create_engine(os.environ["BARE_DATABASE_URL"].replace(
    "postgresql://", "postgresql+psycopg://", 1))
QUERY = sa.text('SELECT staff_no, name, email FROM "user" ORDER BY id LIMIT 12')


@app.get("/")
def index() -> str:
    with engine.connect() as connection:
        rows = connection.execute(QUERY).all()
    return render_template_string(PAGE, title="12 rows", rows=rows)
