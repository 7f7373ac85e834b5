"""The loop-pitfall catalogue: bad ways to set up an async MongoDB client in tests, each run as its own pytest."""
