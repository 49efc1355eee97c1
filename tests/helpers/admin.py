"""The administrator's account form as the page posts it."""

from __future__ import annotations


def user_form(**overrides) -> dict:
    return {"staff_no": "N001", "name": "新同事", "email": "n001@example.org", "department": "0",
            "roles": ["auditor"], "joined_on": "2025-03-01", **overrides}
