"""Where the database is."""

import os

MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://localhost:27017")
