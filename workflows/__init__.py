"""Deterministic orchestration only. No I/O, no environment, no boto3."""
