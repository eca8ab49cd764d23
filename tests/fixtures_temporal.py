"""Temporal fixtures (filled in by the foundation work)."""
