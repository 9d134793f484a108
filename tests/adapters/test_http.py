"""The HTTP helper the URL kinds share: headers and credentials, size caps (announced and
streamed), statuses, redirects, timeouts and unreachable hosts, and a kind's own words."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from facility_adapters.base import AdapterError
from facility_adapters.http import Client, HttpSourceConfig, Wording, shown


@pytest.fixture
async def server(aiohttp_server: Any) -> Any:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return web.Response(body=b"hello", headers={"ETag": '"e1"'})

    async def announced(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(10 * 1024**2)})
        await response.prepare(request)
        await response.write(b"x" * 100)
        return response

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse by
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"x" * 1024)
        await response.write_eof()
        return response

    async def refused(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="maintenance until noon")

    async def moved(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/echo")

    async def empty(request: web.Request) -> web.StreamResponse:
        return web.Response(status=304)

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(body=b"late")

    app = web.Application()
    for path, handler in {
        "/echo": echo,
        "/announced": announced,
        "/streamed": streamed,
        "/refused": refused,
        "/moved": moved,
        "/empty": empty,
        "/slow": slow,
    }.items():
        app.router.add_get(path, handler)
    running = await aiohttp_server(app)
    running.seen = seen
    return running


def client(**kwargs: Any) -> Client:
    options: dict[str, Any] = {"headers": {}, "timeout_s": 5.0, "max_bytes": 16 * 1024}
    return Client(**(options | kwargs))


async def test_headers_and_credentials_go_with_every_request(server: Any) -> None:
    config = HttpSourceConfig(auth="bearer", token="t0ken")
    async with config.client("text/csv") as http:
        result = await http.get(server.make_url("/echo"), headers={"If-None-Match": '"e0"'})
    assert (result.status, result.body, result.headers["etag"]) == (200, b"hello", '"e1"')
    sent = server.seen[-1]
    assert sent["Authorization"] == "Bearer t0ken" and sent["Accept"] == "text/csv"
    assert sent["User-Agent"] == "bedboard" and sent["If-None-Match"] == '"e0"'


async def test_a_body_announced_over_the_cap_is_refused_unread(server: Any) -> None:
    async with client() as http:
        with pytest.raises(AdapterError, match="more than 16384 bytes") as caught:
            await http.get(server.make_url("/announced"))
    assert caught.value.permanent


async def test_a_body_that_grows_over_the_cap_while_streaming_is_refused(server: Any) -> None:
    async with client() as http:
        with pytest.raises(AdapterError, match="raise max_bytes"):
            await http.get(server.make_url("/streamed"))
        assert len((await http.get(server.make_url("/echo"))).body) == 5


async def test_an_unwanted_status_says_what_the_server_said(server: Any) -> None:
    async with client() as http:
        with pytest.raises(AdapterError) as caught:
            await http.get(server.make_url("/refused"))
        assert "503" in str(caught.value) and "maintenance until noon" in str(caught.value)
        assert not caught.value.permanent
        accepted = await http.get(server.make_url("/refused"), accept_status={200, 503})
    assert accepted.status == 503


async def test_redirects_are_followed_only_when_asked(server: Any) -> None:
    async with client() as http:
        with pytest.raises(AdapterError, match="redirected to /echo") as caught:
            await http.get(server.make_url("/moved"))
    assert caught.value.permanent
    async with client(follow_redirects=True) as http:
        assert (await http.get(server.make_url("/moved"))).body == b"hello"


async def test_a_followed_redirect_to_another_origin_does_not_carry_the_token(
    server: Any, aiohttp_server: Any
) -> None:
    """A CSV URL source follows redirects with its bearer token in the session's headers:
    the token goes to the same origin only, never to wherever a redirect points."""
    elsewhere_seen: list[dict[str, str]] = []

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        elsewhere_seen.append(dict(request.headers))
        return web.Response(body=b"moved here")

    async def away(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(str(other.make_url("/elsewhere")))

    other_app = web.Application()
    other_app.router.add_get("/elsewhere", elsewhere)
    other = await aiohttp_server(other_app)  # another port: another origin
    away_app = web.Application()
    away_app.router.add_get("/away", away)
    origin = await aiohttp_server(away_app)
    token = {"Authorization": "Bearer s3cret"}
    async with client(headers=token, follow_redirects=True) as http:
        assert (await http.get(origin.make_url("/away"))).body == b"moved here"
        assert (await http.get(server.make_url("/moved"))).body == b"hello"  # same origin
    assert "Authorization" not in elsewhere_seen[-1]
    assert server.seen[-1]["Authorization"] == "Bearer s3cret"


async def test_a_not_modified_answer_has_no_body(server: Any) -> None:
    async with client() as http:
        result = await http.get(server.make_url("/empty"), accept_status=range(400))
    assert (result.status, result.body) == (304, b"")


async def test_timeouts_and_unreachable_hosts_are_temporary(
    server: Any, unused_tcp_port: int
) -> None:
    async with client(timeout_s=0.2) as http:
        with pytest.raises(AdapterError, match="did not answer in time") as slow:
            await http.get(server.make_url("/slow"))
    assert not slow.value.permanent
    async with client() as http:
        with pytest.raises(AdapterError, match="cannot read") as down:
            await http.get(f"http://127.0.0.1:{unused_tcp_port}/x")
        assert not down.value.permanent
        with pytest.raises(AdapterError, match="cannot read"):
            await http.status(f"http://127.0.0.1:{unused_tcp_port}/x")


async def test_a_kind_words_its_own_failures(server: Any) -> None:
    class Plain(Wording):
        def refused(
            self, status: int, url: URL | str, excerpt: bytes, location: str | None
        ) -> AdapterError:
            return AdapterError(f"answered HTTP {status}", permanent=status == 401)

    async with client(wording=Plain()) as http:
        with pytest.raises(AdapterError, match=r"^answered HTTP 503$"):
            await http.get(server.make_url("/refused"))
        assert await http.status(server.make_url("/refused")) == 503


def test_messages_show_urls_without_their_query() -> None:
    assert shown(URL("https://ehr.example.org/fhir/Location?key=s3cret")) == (
        "https://ehr.example.org/fhir/Location"
    )
    assert shown("https://ehr.example.org/census.csv?sig=abc") == (
        "https://ehr.example.org/census.csv"
    )
