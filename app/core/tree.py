"""The agency tree (city > districts > ...): `Agency.parent_id` read with recursive queries.

Small helpers for every page that works over part of the tree: the roll-up of a city's
districts, the installation administrator's arrangement of agencies. `subtree` is a SELECT of
ids to put inside another query (`User.agency_id.in_(subtree(city))`), so a page over the
whole tree costs one grouped query, not one per agency.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.core.extensions import db
from app.models import Agency


@dataclass(frozen=True)
class Node:
    """An agency placed in the tree: `depth` 0 is the root asked for."""

    id: int
    name: str
    parent_id: int | None
    depth: int


def _descent(agency_id: int) -> sa.CTE:
    """(id, name, parent_id, depth) of the agency and everything below it."""
    below = so.aliased(Agency)
    tree = (sa.select(Agency.id, Agency.name, Agency.parent_id, sa.literal(0).label("depth"))
            .where(Agency.id == agency_id).cte("subtree", recursive=True))
    return tree.union_all(sa.select(below.id, below.name, below.parent_id, tree.c.depth + 1)
                          .where(below.parent_id == tree.c.id))


def subtree(agency_id: int) -> sa.Select:
    """The ids of the agency and all its descendants, as a subquery to filter by."""
    return sa.select(_descent(agency_id).c.id)


def nodes(agency_id: int) -> list[Node]:
    """The agency and its descendants in display order: each one followed by its children,
    siblings by name. One query."""
    descent = _descent(agency_id)
    rows = [Node(*row) for row in db.session.execute(sa.select(descent))]
    below: dict[int | None, list[Node]] = {}
    for node in sorted(rows, key=lambda n: n.name):
        below.setdefault(node.parent_id, []).append(node)
    ordered: list[Node] = []
    stack = [node for node in rows if node.depth == 0]
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(below.get(node.id, [])))
    return ordered


def children(agency_id: int) -> list[Agency]:
    """The agencies directly below, by name."""
    return list(db.session.scalars(
        sa.select(Agency).where(Agency.parent_id == agency_id).order_by(Agency.name)))


def has_descendants(agency_id: int) -> bool:
    return bool(db.session.scalar(sa.select(sa.exists().where(Agency.parent_id == agency_id))))


def _ascent(agency_id: int) -> sa.CTE:
    """(id, parent_id, height) of the agency and everything above it: height 0 is itself."""
    above = so.aliased(Agency)
    up = (sa.select(Agency.id, Agency.parent_id, sa.literal(0).label("height"))
          .where(Agency.id == agency_id).cte("ancestry", recursive=True))
    return up.union_all(sa.select(above.id, above.parent_id, up.c.height + 1)
                        .where(above.id == up.c.parent_id))


def path(agency_id: int) -> list[Agency]:
    """The agency's ancestors from the root down, ending with the agency itself."""
    up = _ascent(agency_id)
    return list(db.session.scalars(
        sa.select(Agency).join(up, up.c.id == Agency.id).order_by(up.c.height.desc())))


def is_within(agency_id: int, root_id: int) -> bool:
    """Whether `agency_id` is `root_id` or below it: a walk up, as long as the tree is deep."""
    up = _ascent(agency_id)
    return db.session.scalar(sa.select(up.c.id).where(up.c.id == root_id)) is not None
