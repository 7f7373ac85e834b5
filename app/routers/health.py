"""Health probes: liveness never touches the database; readiness pings it within a short budget."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.breaker import DatabaseRecoveringError
from app.database import DriverError, ping
from app.deps import DatabaseDep, IndexGateDep, ItemsDep, SettingsDep
from app.errors import RETRY_AFTER_SECONDS, problem, problem_responses
from app.repository import WriteRefusedError

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


@router.get("/live")
async def live() -> Health:
    return Health()


@router.get("/ready", response_model=Health, responses=problem_responses(503))
async def ready(
    db: DatabaseDep, settings: SettingsDep, indexes: IndexGateDep, items: ItemsDep
) -> Health | JSONResponse:
    """200 when the database answers a ping, takes writes and the indexes exist.

    The ping goes through the breaker the item routes use (app.breaker): while their calls fail as
    unavailable, readiness fails too, and when it is their turn to try, its ping is the trial. While the
    database refuses writes (a full disk), readiness tries a write of its own, so that it sees the end
    of that even when no request writes.
    """
    try:
        with items.breaker.call():
            await ping(db, settings)
    except DatabaseRecoveringError:
        return problem(
            503,
            "The database failed just now; another request is trying it.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    except (TimeoutError, DriverError):
        return problem(
            503, "The database did not answer a ping in time.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    if items.writes.refusing is not None:
        try:
            await items.probe_write()
        except (WriteRefusedError, TimeoutError, DriverError, DatabaseRecoveringError):
            return problem(
                503, "The database refuses writes just now.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
    if not indexes.is_open:
        return problem(
            503, "The database's indexes are not created yet.", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    return Health()
