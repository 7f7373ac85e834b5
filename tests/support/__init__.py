"""Helpers for the test suite; `lifespan.py` is the part to copy into another project."""
