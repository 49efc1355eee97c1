"""The read-only JSON API for the agency's OA and statistics systems (/api/v1)."""
