"""loopsafe-mongo: keep an async MongoDB client on the event loop it belongs to, in an app and in its tests.

`guard` pins a client to one loop and explains misuse; `run_lifespan` runs an ASGI app's lifespan on the
current loop and exposes its state; the pytest plugin (loaded automatically) builds on both.
"""

from loopsafe_mongo.guard import ClientCreatedOffLoopError, LoopMismatchError, guard
from loopsafe_mongo.lifespan import LifespanError, RunningApp, run_lifespan

__all__ = [
    "ClientCreatedOffLoopError",
    "LifespanError",
    "LoopMismatchError",
    "RunningApp",
    "__version__",
    "guard",
    "run_lifespan",
]

__version__ = "0.1.0"
