"""Health probes: liveness never needs the database, readiness reports whether it can serve writes."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_liveness_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_is_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
