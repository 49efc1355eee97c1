"""The roll-up of an agency tree: what a city bureau sees of its districts, never content."""
