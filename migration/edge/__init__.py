"""Edge mechanisms on the domain side: one module per mechanism, listed in ``registry``.

Kept free of imports so that ``migration.errors`` can read ``tags`` without loading the
mechanisms (whose spec models import ``migration.errors``).
"""
