"""Use cases: each function is one transaction through a unit of work."""
