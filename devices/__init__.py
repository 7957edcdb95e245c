"""Device benchmark harnesses and their shared result schema."""
