"""The shipped nginx front proxy (deploy/nginx/nginx.conf.template) sheds slow, idle and greedy clients before the API.

uvicorn times out no connection while it reads a request, and accepts connections past any concurrency
limit, so the served configuration puts nginx in front. Here the API runs for real under uvicorn (in
memory), nginx runs the template as `scripts/nginx.sh render` fills it in, with only its port, upstream
and temporary paths substituted (and its 10 s header and body timeouts cut to 1 s, so no test waits
10 s; one test checks the shipped values), and both start with the soft open-file limit of 1024 that
the original report ran into. Every limit and timeout the tests hold the file to is a figure
docs/reliability.md states.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from app.errors import RETRY_AFTER_SECONDS
from tests.support.api import assert_problem
from tests.support.nginx import (
    CONNECTIONS_SETTING,
    SHIPPED_TEMPLATE,
    Nginx,
    check_config,
    nginx_proxy,
    render,
)
from tests.support.servers import free_port, wait_until_serving

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
USUAL_OPEN_FILES = 1024  # the soft limit of the original report
IDLE_CONNECTIONS = 1100  # more than USUAL_OPEN_FILES: the report's figure
START_TIMEOUT_S = 60
MARGIN_S = 3.0  # how late past a shipped timeout nginx may act on a busy 2-core machine
ANSWER_TIMEOUT_S = 5.0
# What the proxy promises (the README's reliability section), hence constants here rather than values read
# from the shipped file: a change to the file that breaks a promise fails a test.
SHIPPED_CLIENT_TIMEOUT_S = 10  # client_header_timeout and client_body_timeout
# The proxy under test runs them at 1 s, so that no test waits 10 s; one test reads the shipped values.
HEADER_TIMEOUT_S = BODY_TIMEOUT_S = 1
PER_CLIENT_LIMIT = 32  # PROXY_CONNECTIONS_PER_CLIENT's default
NO_LIMIT = 65535  # nginx's largest limit_conn, which one worker's 8192 connections never reach
UPSTREAM_KEEPALIVE = 16
MAX_BODY_BYTES = 64 * 1024  # the API's MAX_BODY_BYTES
JSON_TYPE = "Content-Type: application/json\r\n"
ATTACKER = "127.0.0.2"  # any 127/8 address is loopback on Linux: a second client with its own address


@pytest.fixture(scope="module")
def api_port() -> Iterator[int]:
    """The API as production serves it (`python -m app.serve`, uvicorn's command line) in a subprocess, in
    memory (MONGODB_URL unset), with no drain on SIGTERM: these tests stop it only when they are done."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "MONGODB_URL"} | {"SHUTDOWN_DRAIN_S": "0"}
    uvicorn = [sys.executable, "-m", "app.serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        ["/bin/sh", "-c", f'ulimit -S -n {USUAL_OPEN_FILES} && exec "$@"', "sh", *uvicorn, "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(process, port, "uvicorn", START_TIMEOUT_S)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"uvicorn did not exit within {START_TIMEOUT_S} s of SIGTERM") from None


@pytest.fixture
async def proxy(api_port: int, tmp_path: Path) -> AsyncIterator[Nginx]:
    """The shipped configuration, timeouts included."""
    async with nginx_proxy(tmp_path, api_port, open_files_soft_limit=USUAL_OPEN_FILES) as running:
        yield running


@pytest.fixture
async def quick_proxy(api_port: int, tmp_path: Path) -> AsyncIterator[Nginx]:
    """The shipped configuration with its client timeouts cut to HEADER_TIMEOUT_S, for the tests that wait them out."""
    async with nginx_proxy(
        tmp_path, api_port, open_files_soft_limit=USUAL_OPEN_FILES, client_timeout_s=HEADER_TIMEOUT_S
    ) as running:
        yield running


@pytest.fixture
def many_open_files() -> Iterator[None]:
    """This test process holds over a thousand client sockets: raise its own soft limit for that."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * IDLE_CONNECTIONS
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"this test needs {wanted} open files, and the hard limit is {hard} (raise it: ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def connect(port: int, source: str = "127.0.0.1") -> SocketStream:
    return await anyio.connect_tcp("127.0.0.1", port, local_host=source)


async def read_until_closed(stream: SocketStream, within_s: float, what: str) -> bytes:
    """Everything the server sends until it closes or resets the connection, which it must do within `within_s`."""
    reply = b""
    with anyio.move_on_after(within_s):
        while True:
            try:
                reply += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return reply
    raise AssertionError(f"nginx did not close {what} within {within_s} s; it sent {reply[:200]!r}")


async def read_response(stream: SocketStream) -> httpx.Response:
    """One HTTP/1.1 response with a Content-Length, as an httpx.Response for the shared assertions."""
    raw = b""
    with anyio.move_on_after(ANSWER_TIMEOUT_S):
        while b"\r\n\r\n" not in raw or len(raw.partition(b"\r\n\r\n")[2]) < _content_length(raw):
            try:
                raw += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                break
        head, _, body = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [(name, value) for name, _, value in (line.partition(": ") for line in header_lines)]
        return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)
    raise AssertionError(f"no complete response within {ANSWER_TIMEOUT_S} s; received {raw[:300]!r}")


def _content_length(raw: bytes) -> int:
    for line in raw.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def get_live(port: int, source: str = "127.0.0.1") -> httpx.Response:
    async with await connect(port, source) as stream:
        await stream.send(b"GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        return await read_response(stream)


def established(port: int) -> int:
    """Established TCP connections whose server end is `port` (the local port of that end), from /proc/net/tcp."""
    established = "01"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        count += local_port == port and fields[3] == established
    return count


def post_head(length: int) -> bytes:
    return f"POST /items HTTP/1.1\r\nHost: test\r\n{JSON_TYPE}Content-Length: {length}\r\n\r\n".encode()


async def hold_requests(held: AsyncExitStack, port: int, count: int, source: str = ATTACKER) -> None:
    """`count` requests from `source` in flight until `held` closes: each sends its head and never its body."""
    for _ in range(count):
        stream = await held.enter_async_context(await connect(port, source))
        await stream.send(post_head(100))
    await anyio.sleep(0.2)  # nginx counts a request once it has read its head


async def third_concurrent_request(api_port: int, directory: Path, connections_per_client: int) -> httpx.Response:
    """With the setting at `connections_per_client`, a third request from an address that has two in flight."""
    async with (
        nginx_proxy(directory, api_port, connections_per_client=connections_per_client) as limited,
        AsyncExitStack() as held,
    ):
        await hold_requests(held, limited.port, 2)
        return await get_live(limited.port, ATTACKER)


def test_the_shipped_header_and_body_timeouts_are_10_seconds() -> None:
    text = SHIPPED_TEMPLATE.read_text()
    assert f"client_header_timeout {SHIPPED_CLIENT_TIMEOUT_S}s;" in text
    assert f"client_body_timeout {SHIPPED_CLIENT_TIMEOUT_S}s;" in text


def test_nginx_accepts_the_shipped_configuration(tmp_path: Path) -> None:
    result = check_config(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


async def test_a_request_head_that_trickles_is_reset_at_the_header_timeout(quick_proxy: Nginx) -> None:
    # Half a request head, then one more byte a second: the timer is on the whole head, not on silence,
    # so keeping the connection busy does not keep it open.
    closed = False
    async with await connect(quick_proxy.port) as stream:
        await stream.send(b"GET /health/live HTTP/1.1\r\nHost: test\r\n")
        with anyio.move_on_after(HEADER_TIMEOUT_S + MARGIN_S):
            while not closed:
                try:
                    await stream.send(b"X")
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    closed = True
                with anyio.move_on_after(1):
                    try:
                        unexpected = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        closed = True
                    else:
                        raise AssertionError(f"nginx answered an unfinished request head: {unexpected[:200]!r}")
    assert closed, f"a trickling request head was still open after {HEADER_TIMEOUT_S + MARGIN_S} s"


async def test_a_body_that_stalls_is_reset_at_the_body_timeout_with_no_response(quick_proxy: Nginx) -> None:
    # nginx's documentation speaks of a 408, but nginx sends nothing: it resets the connection.
    async with await connect(quick_proxy.port) as stream:
        await stream.send(post_head(100) + b'{"name": ')
        reply = await read_until_closed(stream, BODY_TIMEOUT_S + MARGIN_S, "a connection whose body stalled")
    assert reply == b""


async def test_a_body_over_64_kib_gets_413_problem_details(proxy: Nginx) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}", timeout=ANSWER_TIMEOUT_S) as client:
        response = await client.post(
            "/items", content=b" " * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"}
        )
    problem = assert_problem(response, 413)
    assert str(MAX_BODY_BYTES) in problem["detail"]


async def test_a_header_over_8_kib_gets_431_problem_details(proxy: Nginx) -> None:
    async with await connect(proxy.port) as stream:
        await stream.send(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Big: " + b"x" * 8192 + b"\r\n\r\n")
        assert_problem(await read_response(stream), 431)


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /items/%00 HTTP/1.1", 400),
        (b"GET /items/../../etc/passwd HTTP/1.1", 400),
        (b"GET /items/..%2f..%2fetc%2fpasswd HTTP/1.1", 400),
        (b"OPTIONS * HTTP/1.1", 400),
        (b"CONNECT example.com:443 HTTP/1.1", 400),
        (b"G@T / HTTP/1.1", 400),
        (b"GET /.nginx-problem/400 HTTP/1.1", 404),  # the error pages themselves are internal
        (b"TRACE / HTTP/1.1", 405),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1", 414),
        # The two 5xx are the protocol's own answers to a feature the server lacks (RFC 9112 6.1, RFC 9110 15.6.6).
        (b"POST /items HTTP/1.1\r\nTransfer-Encoding: gzip", 501),
        (b"GET / HTTP/2.7", 505),
    ],
    ids=[
        "nul",
        "dot-dot",
        "encoded-dot-dot",
        "options-star",
        "connect",
        "bad-method",
        "error-page",
        "trace",
        "uri-too-long",
        "unknown-transfer-coding",
        "unknown-version",
    ],
)
async def test_a_request_nginx_refuses_itself_gets_problem_details_with_its_status(
    proxy: Nginx, request_head: bytes, status: int
) -> None:
    # Each of these once got a 500 text/html (a redirect to a named location fails for a request with no URI)
    # or nginx's stock HTML page.
    async with await connect(proxy.port) as stream:
        await stream.send(request_head + b"\r\nHost: test\r\n\r\n")
        response = await read_response(stream)
    assert_problem(response, status)
    if status == 405:
        assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH, POST"


@pytest.mark.parametrize(
    ("declared", "status"),
    [("10001", 413), ("ffffffffffffffff", 400)],
    ids=["over-the-limit", "past-64-bits"],
)
async def test_a_chunk_declared_too_large_is_refused_before_its_bytes_arrive(
    proxy: Nginx, declared: str, status: int
) -> None:
    # Only the chunk's size line is sent: the answer cannot have waited for the chunk.
    async with await connect(proxy.port) as stream:
        head = f"POST /items HTTP/1.1\r\nHost: test\r\n{JSON_TYPE}Transfer-Encoding: chunked\r\n\r\n"
        await stream.send(f"{head}{declared}\r\n{{".encode())
        assert_problem(await read_response(stream), status)


async def test_requests_past_the_per_client_limit_get_503_with_retry_after_while_others_are_served(
    proxy: Nginx,
) -> None:
    async with AsyncExitStack() as held:
        # Requests whose body never comes are in flight as long as nginx waits for it: the client's quota.
        await hold_requests(held, proxy.port, PER_CLIENT_LIMIT)

        refused = await get_live(proxy.port, ATTACKER)
        problem = assert_problem(refused, 503)
        assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)  # the API's own 503s say the same
        assert "concurrent" in problem["detail"]

        served = await get_live(proxy.port)
    assert served.status_code == 200, served.text


async def test_by_default_a_client_s_32nd_concurrent_request_is_served(proxy: Nginx) -> None:
    # With the 33rd refused (the test above), the default limit is exactly 32.
    async with AsyncExitStack() as held:
        await hold_requests(held, proxy.port, PER_CLIENT_LIMIT - 1)
        response = await get_live(proxy.port, ATTACKER)
    assert response.status_code == 200, response.text


async def test_with_the_setting_at_2_a_client_s_third_concurrent_request_gets_503(
    api_port: int, tmp_path: Path
) -> None:
    response = await third_concurrent_request(api_port, tmp_path, connections_per_client=2)
    problem = assert_problem(response, 503)
    assert "concurrent" in problem["detail"]


async def test_with_the_setting_at_3_a_client_s_third_concurrent_request_is_served(
    api_port: int, tmp_path: Path
) -> None:
    response = await third_concurrent_request(api_port, tmp_path, connections_per_client=3)
    assert response.status_code == 200, response.text


def test_nginx_accepts_65535_the_setting_that_lifts_the_limit(tmp_path: Path) -> None:
    result = check_config(tmp_path, connections_per_client=NO_LIMIT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["0", "65536", "off", "-1", "32k", " 32"])
def test_render_refuses_a_setting_nginx_would_refuse_and_names_it(value: str) -> None:
    result = render(value)
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"{CONNECTIONS_SETTING} must be a number from 1 to {NO_LIMIT}" in result.stderr


def test_render_fills_in_the_setting_and_nothing_else() -> None:
    # What the official image's envsubst makes of the template in docker-compose.yml, which lets it
    # replace only PROXY_ variables: the template must use no other, in no other spelling.
    template = SHIPPED_TEMPLATE.read_text()
    assert re.findall(r"\$\{?PROXY_\w*\}?", template) == [f"${{{CONNECTIONS_SETTING}}}"]

    result = render("7")

    assert result.returncode == 0, result.stderr
    assert result.stdout == template.replace(f"${{{CONNECTIONS_SETTING}}}", "7")


def test_render_and_docker_compose_default_the_setting_to_32() -> None:
    assert f"limit_conn per_client {PER_CLIENT_LIMIT};" in render(None).stdout
    compose = (ROOT / "docker-compose.yml").read_text()
    assert f"{CONNECTIONS_SETTING}: ${{{CONNECTIONS_SETTING}:-{PER_CLIENT_LIMIT}}}" in compose


async def test_over_a_thousand_idle_connections_neither_block_health_checks_nor_reach_the_api(
    many_open_files: None, proxy: Nginx, api_port: int
) -> None:
    async with AsyncExitStack() as held:
        for _ in range(IDLE_CONNECTIONS):
            await held.enter_async_context(await connect(proxy.port))
        response = await get_live(proxy.port)
        assert response.status_code == 200, response.text
        held_by_proxy = established(proxy.port)
        # The API sees the proxy's pooled connections only, whatever nginx holds for idle clients.
        held_by_api = established(api_port)
    # Held, not shed: short of worker_connections, nginx would close the oldest idle ones to make room.
    assert held_by_proxy >= IDLE_CONNECTIONS
    assert held_by_api <= UPSTREAM_KEEPALIVE, f"the API held {held_by_api} connections"


async def test_refused_and_abandoned_connections_add_no_line_to_the_error_log(proxy: Nginx) -> None:
    rounds = 100
    async with AsyncExitStack() as held:
        await hold_requests(held, proxy.port, PER_CLIENT_LIMIT)
        for _ in range(rounds):
            assert (await get_live(proxy.port, ATTACKER)).status_code == 503  # refused by limit_conn
            async with await connect(proxy.port) as stream:  # a head abandoned halfway
                await stream.send(b"GET /health/live HTTP/1.1\r\nHo")
            async with await connect(proxy.port) as stream:  # a body abandoned halfway
                await stream.send(post_head(100) + b"{")
    await get_live(proxy.port)  # one more exchange, so nginx has handled every close above
    assert proxy.log_lines() == []


async def test_the_api_down_gets_502_problem_details(tmp_path: Path) -> None:
    async with nginx_proxy(tmp_path, upstream_port=free_port()) as down:
        response = await get_live(down.port)
    problem = assert_problem(response, 502)
    assert "not reachable" in problem["detail"]
