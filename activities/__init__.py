"""I/O only: one module per AWS area, each a class given its boto3 clients by the worker."""
