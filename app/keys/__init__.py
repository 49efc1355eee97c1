"""Content encryption at rest and the custody of its keys (the `keys` CLI)."""
