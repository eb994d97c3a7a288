"""Use cases: commands and their handlers, queries, turns."""
