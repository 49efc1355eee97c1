"""The floor of a request: the SELECT statements it sent, replayed raw and fully fetched.

Shared by bench/statement.py, bench/dashboard.py and bench/municipal.py: a page is timed
beside its floor in the same run, interleaved (page, floor, page, floor ...), so that load on
the machine weighs on both alike and `<name>_floor_ratio` says what the Python around the
SQL costs.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from app.core.extensions import db
from app.statement import digest

Query = tuple[str, object]


class Recorder:
    """The statements a request sends: SQLAlchemy's, and the records digest's raw cursor."""

    def __init__(self) -> None:
        self.seen: list[Query] | None = None
        self._batches = digest._batches
        digest._batches = self.batches
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self.listener)

    def listener(self, conn, cursor, sql, parameters, context, executemany) -> None:
        if self.seen is not None and not executemany:
            self.seen.append((sql, parameters))

    def batches(self, connection: sa.Connection, query: sa.Select) -> Iterator[list[tuple]]:
        if self.seen is not None:
            self.seen.append((str(query.compile(connection,
                                                compile_kwargs={"literal_binds": True})), None))
        return self._batches(connection, query)

    def record(self, action: Callable[[], None]) -> list[Query]:
        self.seen = []
        try:
            action()
            return [(sql, p) for sql, p in self.seen
                    if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
        finally:
            self.seen = None


def replay(app, queries: list[Query]) -> Callable[[], None]:
    """The queries on a DBAPI cursor of a fresh app context's connection, every row fetched."""
    def run() -> None:
        with app.app_context():
            connection = db.session.connection()
            cursor = connection.connection.dbapi_connection.cursor()
            for sql, parameters in queries:
                if parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, parameters)
                while cursor.fetchmany(20_000):
                    pass
            cursor.close()
            db.session.rollback()
    return run


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


@functools.cache
def recorder() -> Recorder:
    """The process's one recorder (it listens to every engine)."""
    return Recorder()


def medians(app, pages: dict[str, Callable[[], None]], runs: int,
            after: Callable[[str], None] = lambda name: None) -> dict[str, float]:
    """Seconds, medians of `runs`, of each page and its floor (`<name>_floor`), interleaved,
    and `<name>_statements`, the SQL statements it sent. Each page runs twice first: to warm
    the caches and do what only a first visit does (the queue's fingerprints), then to record
    its statements; `after(name)` runs after each run of a page, untimed (to put back what it
    changed)."""
    floors, result = {}, {}
    for name, page in pages.items():
        page()
        after(name)
        queries = recorder().record(page)
        after(name)
        floors[name] = replay(app, queries)
        result[f"{name}_statements"] = float(len(queries))
    times: dict[str, list[float]] = {f"{name}{kind}": [] for name in pages
                                     for kind in ("", "_floor")}
    for _run in range(runs):
        for name, page in pages.items():
            times[name].append(timed(page))
            after(name)
            times[f"{name}_floor"].append(timed(floors[name]))
    result.update({name: statistics.median(spent) for name, spent in times.items()})
    return result
