"""Items API: a FastAPI service whose MongoDB client lives and dies with the app's lifespan."""
