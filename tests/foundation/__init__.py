"""Foundation: console script, embedded Temporal server, test environments."""
