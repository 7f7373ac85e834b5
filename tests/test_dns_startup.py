"""A `mongodb+srv://` URL whose name does not resolve: treated like a database outage, not a bad setting.

Both drivers resolve the SRV record at their first operation. With the resolver down, the app still starts,
answers 503 on database routes and readiness, creates its indexes in the background and recovers by
itself once DNS answers. A URL that can never work still stops the app at startup.

dnspython is pointed at a DNS server of the test's own on loopback (FakeDns): silent (the resolver is
down), answering NXDOMAIN, or answering with the SRV record of a private FerretDB.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from enum import Enum
from pathlib import Path
from typing import cast

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest
from pymongo.errors import ConfigurationError

import app.startup
from app.database import InvalidSettingError
from app.settings import Driver
from tests.support.api import assert_problem, get_until_ok
from tests.support.apps import serve_app, short_budget_settings
from tests.support.servers import ferretdb_server
from tests.support.waits import answered_within

pytestmark = pytest.mark.anyio

BUDGET_MS = 300
# The SRV name: three labels under which the record's target, 127.0.0.1, is a valid host for the drivers
# (a target must share the name's parent domain, here "0.0.1"), so no name lookup leaves loopback.
SRV_URL = "mongodb+srv://items.0.0.1/?tls=false"
RECOVERY_BOUND_S = 30  # a bound on hanging, not a speed target


class Answer(Enum):
    NOTHING = "nothing"  # the resolver is down: every query times out
    NXDOMAIN = "nxdomain"
    RECORDS = "records"


class FakeDns(asyncio.DatagramProtocol):
    """A DNS server on a loopback UDP port that answers as `answer` says."""

    def __init__(self) -> None:
        self.answer = Answer.NOTHING
        self.target_port = 0
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # what a datagram endpoint gets

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        if self.answer is Answer.NOTHING or self._transport is None:
            return
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        if self.answer is Answer.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.SRV:
            record = f"0 0 {self.target_port} 127.0.0.1."
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "SRV", record))
        # Any other question (TXT) gets an empty answer: no options from DNS.
        self._transport.sendto(response.to_wire(), addr)


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDns]:
    """A FakeDns, silent at first, that dnspython (sync, for Motor, and async, for PyMongo) now asks."""
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(FakeDns, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    for module in (dns.resolver, dns.asyncresolver):
        resolver = module.Resolver(configure=False)  # configure=False: /etc/resolv.conf is never read
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = port
        monkeypatch.setattr(module, "default_resolver", resolver)
    try:
        yield server
    finally:
        transport.close()


@pytest.fixture(params=list(Driver))
def driver(request: pytest.FixtureRequest) -> Driver:
    chosen: Driver = request.param
    return chosen


@pytest.fixture(autouse=True)
def quick_index_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Index creation is retried after up to 10 s in production; here a retry follows the outage quickly.
    monkeypatch.setattr(app.startup, "RETRY_DELAYS_S", (0.2,))


async def test_the_app_starts_while_the_resolver_is_down(fake_dns: FakeDns, driver: Driver) -> None:
    async with serve_app(short_budget_settings(SRV_URL, budget_ms=BUDGET_MS, driver=driver)) as http:
        live = await http.get("/health/live")

    assert live.status_code == 200


async def test_while_the_resolver_is_down_database_routes_and_readiness_answer_503(
    fake_dns: FakeDns, driver: Driver
) -> None:
    async with serve_app(short_budget_settings(SRV_URL, budget_ms=BUDGET_MS, driver=driver)) as http:
        responses = [
            await http.get("/health/ready"),
            await http.post("/items", json={"name": "bolt"}),
            await http.get("/items"),
            await http.get("/items/0123456789abcdef01234567"),
        ]

    for response in responses:
        assert_problem(response, 503)
        assert response.headers["retry-after"]


async def test_a_name_that_does_not_exist_is_an_outage_too_not_a_crash(fake_dns: FakeDns, driver: Driver) -> None:
    # Decided: NXDOMAIN can be transient (new records still propagating, a negative answer cached), so
    # it is retried like a timeout; a mistyped host shows as a service that never gets ready.
    fake_dns.answer = Answer.NXDOMAIN

    async with serve_app(short_budget_settings(SRV_URL, budget_ms=BUDGET_MS, driver=driver)) as http:
        read = await http.get("/items")

    assert_problem(read, 503)


async def test_the_app_recovers_by_itself_once_the_resolver_answers(
    fake_dns: FakeDns, driver: Driver, tmp_path: Path
) -> None:
    async with ferretdb_server(tmp_path / "data") as server:
        fake_dns.target_port = server.port
        settings = short_budget_settings(SRV_URL, budget_ms=BUDGET_MS, driver=driver, mongodb_db="dns")
        async with serve_app(settings) as http:
            assert_problem(await http.get("/health/ready"), 503)

            fake_dns.answer = Answer.RECORDS
            await answered_within(
                RECOVERY_BOUND_S, "readiness returning after DNS answered again", get_until_ok(http, "/health/ready")
            )
            created = await http.post("/items", json={"name": "bolt"})

    assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mongodb+srv://items.0.0.1:27017/", id="port-in-srv-url"),
        pytest.param("mongodb+srv://items.0.0.1/?notAnOption=1", id="unknown-option"),
        pytest.param("mongodb+srv://items.0.0.1/?tls=maybe", id="bad-option-value"),
    ],
)
async def test_a_url_that_can_never_work_still_fails_at_startup_naming_the_setting(
    fake_dns: FakeDns, driver: Driver, url: str
) -> None:
    with pytest.raises(InvalidSettingError, match="MONGODB_URL"):
        async with serve_app(short_budget_settings(url, budget_ms=BUDGET_MS, driver=driver)):
            pass


async def test_an_srv_name_that_is_an_ip_address_fails_at_startup(fake_dns: FakeDns, driver: Driver) -> None:
    # The drivers find this at their first operation, not when the client is built; it is a plain
    # ConfigurationError, with no DNS error behind it, so the first index creation fails startup.
    with pytest.raises(ExceptionGroup) as raised:
        async with serve_app(short_budget_settings("mongodb+srv://127.0.0.1/", budget_ms=BUDGET_MS, driver=driver)):
            pass

    assert raised.group_contains(ConfigurationError, match="IP address")
