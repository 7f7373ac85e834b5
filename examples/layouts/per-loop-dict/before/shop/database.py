"""One client per event loop, made on first use on that loop and kept in a dict."""

import asyncio
from typing import Any

from loopsafe_mongo import guard

from shop.config import mongo_client

clients: dict[asyncio.AbstractEventLoop, Any] = {}


async def get_db() -> Any:
    loop = asyncio.get_running_loop()
    if loop not in clients:
        clients[loop] = guard(mongo_client())
    return clients[loop]["shop"]
