"""The internal-hop HTTP client against a scripted server on loopback: what goes on the wire, streamed bodies,
keep-alive reuse, the one resend after an idle close, and each failure typed. Each runs on asyncio's loop and on
uvloop's (conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from service_kit.stream_client import ConnectFailed, ReadTimeout, StreamBroken, StreamClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


class Server:
    """Answers each request with ``handler`` (which returns whether to keep the connection); counts connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request = await read_request(reader)
                self.requests.append(request)
                if not await self.handler(reader, writer, request):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[Server, StreamClient]]]]:
    servers: list[asyncio.Server] = []
    clients: list[StreamClient] = []

    async def start(handler: Handler) -> tuple[Server, StreamClient]:
        server = Server(handler)
        listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        client = StreamClient(f"http://127.0.0.1:{port}", connect_timeout=2)
        clients.append(client)
        return server, client

    yield start
    for client in clients:
        await client.aclose()
    for listening in servers:
        listening.close()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def endless(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    """A chunked body that never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while True:
        writer.write(chunk(b"x"))
        await writer.drain()
        await asyncio.sleep(0.01)


async def sized(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    body = request.split(b"\r\n\r\n", 1)[1] or b"empty"
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return True


async def test_the_request_goes_out_as_given_and_a_sized_body_comes_back(serve) -> None:
    server, client = await serve(sized)
    response = await client.request("POST", "/a%20b?x=1", headers={"X-Key": "k"}, body=b'{"hi":1}')
    assert (response.status, response.headers["content-type"]) == (201, "text/plain")
    assert await response.read() == b'{"hi":1}'
    head = server.requests[0].split(b"\r\n")
    assert head[0] == b"POST /a%20b?x=1 HTTP/1.1"
    assert b"X-Key: k" in head
    assert b"Content-Length: 8" in head
    assert any(line.startswith(b"Host: 127.0.0.1:") for line in head)


async def test_a_chunked_body_arrives_piece_by_piece_and_the_connection_is_reused(serve) -> None:
    release = asyncio.Event()

    async def streamed(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"one"))
        await writer.drain()
        await release.wait()
        writer.write(chunk(b"two") + b"0\r\n\r\n")
        return True

    server, client = await serve(streamed)
    for _ in range(2):
        release.clear()
        response = await client.request("GET", "/s", headers={})
        body = aiter(response)
        assert await anext(body) == b"one"  # before the server sent the rest
        release.set()
        assert [piece async for piece in body] == [b"two"]
    assert server.connections == 1


async def test_an_idle_connection_the_peer_closed_is_replaced_and_the_request_sent_once_more(serve) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        await sized(reader, writer, request)
        return False  # closes after answering, without saying so

    server, client = await serve(once)
    assert await (await client.request("POST", "/", headers={}, body=b"1")).read() == b"1"
    await server.closed.wait()
    await asyncio.sleep(0.05)
    assert await (await client.request("POST", "/", headers={}, body=b"2")).read() == b"2"
    assert server.connections == 2
    assert len(server.requests) == 2


async def test_a_stream_cut_in_the_middle_is_a_broken_stream(serve) -> None:
    async def cut(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"part"))
        await writer.drain()
        return False

    _, client = await serve(cut)
    response = await client.request("GET", "/", headers={})
    with pytest.raises(StreamBroken):
        await response.read()


async def test_an_answer_that_is_not_http_is_a_broken_stream(serve) -> None:
    async def garbage(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        return False

    _, client = await serve(garbage)
    with pytest.raises(StreamBroken):
        await client.request("GET", "/", headers={})


async def test_silence_longer_than_the_read_timeout_fails_the_read(serve) -> None:
    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first"))
        await writer.drain()
        await asyncio.sleep(5)
        return False

    _, client = await serve(silent)
    response = await client.request("GET", "/", headers={}, read_timeout=0.2)
    body = aiter(response)
    assert await anext(body) == b"first"
    with pytest.raises(ReadTimeout):
        async with asyncio.timeout(2):
            await anext(body)


async def test_leaving_a_response_early_drops_its_connection(serve) -> None:
    server, client = await serve(endless)
    response = await client.request("GET", "/", headers={})
    async for _ in response:
        break
    async with asyncio.timeout(2):
        await server.closed.wait()


async def test_no_listener_is_a_connect_failure_and_line_breaks_in_headers_are_refused() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    client = StreamClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectFailed):
        await client.request("GET", "/", headers={})
    with pytest.raises(ValueError, match="line break"):
        await client.request("GET", "/", headers={"X-Subject": "a\r\nX-Internal-Auth: forged"})


async def test_a_released_response_whose_body_ends_soon_leaves_its_connection_for_the_next(serve) -> None:
    async def done_then_end(_: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: [DONE]\n\n"))
        await writer.drain()
        await asyncio.sleep(0.05)  # the body's end comes in a later packet, as uvicorn sends it
        writer.write(b"0\r\n\r\n")
        return True

    server, client = await serve(done_then_end)
    for _ in range(3):
        response = await client.request("POST", "/", headers={}, body=b"x")
        async for piece in response:
            assert piece == b"data: [DONE]\n\n"
            response.release()
            break
        await asyncio.sleep(0.1)
    assert server.connections == 1
    assert len(server.requests) == 3


async def test_a_released_response_that_goes_on_is_dropped_after_a_moment(serve) -> None:
    server, client = await serve(endless)
    response = await client.request("GET", "/", headers={})
    async for _ in response:
        response.release()
        break
    async with asyncio.timeout(3):
        await server.closed.wait()
