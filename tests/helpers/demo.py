"""The demo bureau's fixed 'today'."""

from __future__ import annotations

from datetime import date

TODAY = date(2025, 11, 26)  # a Wednesday: 2024 whole and signed, then 2025-01 .. 2025-10
