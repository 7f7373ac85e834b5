"""Developer commands: dev.py (the entry point), the pitfalls demo, helper shell scripts."""
