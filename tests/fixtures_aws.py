"""AWS simulation fixtures (filled in by the activities work)."""
