"""A minimal adopter of loopsafe-mongo: a FastAPI + Motor notes service."""
