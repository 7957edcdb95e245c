"""Device benchmark harnesses and their shared result schema (issue #6)."""
