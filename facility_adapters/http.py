"""HTTP for the kinds that read a URL (``fhir``, ``have``, ``csv``): one helper instead of
a copy per kind.

A ``Client`` is opened per poll or check with the feed's headers (its credentials among
them), a timeout and a size cap. ``get`` refuses a body larger than the cap from its
``Content-Length`` before reading, and again while streaming it; an unwanted status, a
timeout or a connection failure becomes an ``AdapterError`` whose ``permanent`` flag says
whether retrying can help. How each failure is worded is the kind's (``Wording``): the
feed's health shows the words to administrators, so each kind keeps its own.

``HttpSourceConfig`` is the settings block ``fhir`` and ``have`` share (auth, timeout,
size cap); ``csv`` has its own settings and builds its ``Client`` from them.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Literal

import aiohttp
from multidict import CIMultiDict
from pydantic import Field, model_validator
from yarl import URL

from facility_adapters.base import AdapterConfig, AdapterError, safe_text

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_MAX_BYTES = 200 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
ERROR_EXCERPT_BYTES = 2048  # what is read of a refused response's body, for the message
USER_AGENT = "bedboard"
OK: frozenset[int] = frozenset({200})
NO_CONTENT: frozenset[int] = frozenset({204, 304})  # statuses that carry no body


# --------------------------------------------------------------------------- URLs and auth


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_http_url(value: str, *, sends_credentials: bool, field_name: str) -> str:
    """Validate a source URL: http(s), a host, no embedded credentials or fragment;
    credentials are only ever sent over https (or to this machine, for testing)."""
    text = value.strip()
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field_name} is not a URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{field_name} must be an http:// or https:// URL with a host")
    if url.user or url.password:
        raise ValueError(f"{field_name} must not embed credentials; use the auth settings")
    if url.fragment:
        raise ValueError(f"{field_name} must not have a #fragment")
    if sends_credentials and url.scheme == "http" and not is_loopback(url.host):
        raise ValueError(f"{field_name}: credentials are only sent over https")
    return text


def bearer(token: str | None) -> dict[str, str]:
    """The ``Authorization`` header for a bearer token (none without a token)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def basic(username: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header for HTTP Basic."""
    pair = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def shown(url: URL | str) -> str:
    """A URL as messages show it: without its query (it may carry a key), bounded."""
    try:
        text = str(URL(url).with_query(None))
    except (ValueError, TypeError):
        text = str(url).split("?", 1)[0]
    return safe_text(text, 300)


# --------------------------------------------------------------------------- failures


def status_error(
    status: int, url: URL | str, body: bytes = b"", location: str | None = None
) -> str:
    """What an unwanted HTTP status means, in words for the feed's health record."""
    where = shown(url)
    detail = safe_text(body[:300].decode("utf-8", "replace").strip(), 300)
    if status in (401, 403):
        return f"{status} from {where}: the credentials were refused"
    if status in (404, 410):
        return f"{status} from {where}: not found; check the URL"
    if 300 <= status < 400:
        target = safe_text(location or "?", 300)
        return f"{status} from {where}: redirected to {target}; configure that URL instead"
    return f"{status} from {where}" + (f": {detail}" if detail else "")


def status_is_permanent(status: int) -> bool:
    """Retrying helps with 5xx, 408, 425 and 429; any other refusal needs new settings."""
    return not (status >= 500 or status in (408, 425, 429))


class Wording:
    """How a kind words its HTTP failures. These are the words of ``fhir`` and ``have``;
    a kind with other words (``csv``) overrides the methods."""

    def refused(
        self, status: int, url: URL | str, excerpt: bytes, location: str | None
    ) -> AdapterError:
        """A status the caller did not accept; ``excerpt`` is the start of the body."""
        return AdapterError(
            status_error(status, url, excerpt, location), permanent=status_is_permanent(status)
        )

    def too_large(self, url: URL | str, size: int | None, limit: int) -> AdapterError:
        """The body is over ``limit`` bytes: announced as ``size``, or found while reading
        (``size`` None)."""
        return AdapterError(
            f"{shown(url)} sent more than {limit} bytes; raise max_bytes if that is expected",
            permanent=True,
        )

    def failed(self, url: URL | str, exc: Exception) -> AdapterError:
        """No answer: a timeout, a connection failure, or a URL aiohttp cannot use."""
        if isinstance(exc, TimeoutError):
            return AdapterError(f"{shown(url)} did not answer in time", permanent=False)
        if isinstance(exc, aiohttp.InvalidURL):
            return AdapterError(f"invalid URL {safe_text(exc, 300)}", permanent=True)
        message = safe_text(str(exc) or type(exc).__name__, 300)
        return AdapterError(f"cannot read {shown(url)}: {message}", permanent=False)


# --------------------------------------------------------------------------- the client


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


@dataclass
class HttpResult:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive

    @property
    def date(self) -> datetime | None:
        """The server's ``Date`` header, when it is a usable one."""
        return _http_date(self.headers.get("Date"))


class Client:
    """One adapter's HTTP for one poll or check (``async with``): the headers sent with
    every request, the timeouts, the size cap, whether redirects are followed (not by
    default: credentials go only to the URLs asked for) and the kind's ``Wording``."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        max_bytes: int,
        connect_timeout_s: float | None = None,
        follow_redirects: bool = False,
        wording: Wording | None = None,
    ) -> None:
        self.headers = dict(headers)
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)
        self.max_bytes = max_bytes
        self.follow_redirects = follow_redirects
        self.wording = wording or Wording()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(headers=self.headers, timeout=self.timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the client in `async with`")
        return self._session

    async def get(
        self,
        url: URL | str,
        *,
        headers: Mapping[str, str] | None = None,
        accept_status: Container[int] = OK,
    ) -> HttpResult:
        """GET ``url`` and read its body (at most ``max_bytes``). A status outside
        ``accept_status``, an oversized body and every transport failure raise the
        wording's ``AdapterError``; 204 and 304 come back with no body."""
        try:
            async with self.session.get(
                url, headers=headers, allow_redirects=self.follow_redirects
            ) as resp:
                if resp.status not in accept_status:
                    excerpt = await resp.content.read(ERROR_EXCERPT_BYTES)
                    raise self.wording.refused(
                        resp.status, url, excerpt, resp.headers.get("Location")
                    )
                kept = CIMultiDict(resp.headers)
                if resp.status in NO_CONTENT:
                    return HttpResult(resp.status, b"", kept)
                if resp.content_length is not None and resp.content_length > self.max_bytes:
                    raise self.wording.too_large(url, resp.content_length, self.max_bytes)
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self.wording.too_large(url, None, self.max_bytes)
                    chunks.append(chunk)
                return HttpResult(resp.status, b"".join(chunks), kept)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self.wording.failed(url, exc) from None

    async def status(self, url: URL | str, *, headers: Mapping[str, str] | None = None) -> int:
        """GET ``url`` and return the status only, reading none of the body (a check that
        asks the way a poll does). Transport failures raise the wording's error."""
        try:
            async with self.session.get(
                url, headers=headers, allow_redirects=self.follow_redirects
            ) as resp:
                return resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise self.wording.failed(url, exc) from None


# --------------------------------------------------------------------------- settings


class HttpSourceConfig(AdapterConfig):
    """Settings shared by adapters that read an HTTP source."""

    auth: Literal["none", "bearer", "basic"] = Field(
        default="none", description="none, bearer (token) or basic (username + password)."
    )
    token: str | None = Field(default=None, repr=False, max_length=8192)
    username: str | None = Field(default=None, max_length=512)
    password: str | None = Field(default=None, repr=False, max_length=1024)
    timeout_s: float = Field(default=30.0, gt=0, le=120, description="Per request.")
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1024,
        le=MAX_MAX_BYTES,
        description="Largest response accepted (after decompression).",
    )

    @model_validator(mode="after")
    def _auth_complete(self) -> HttpSourceConfig:
        if self.auth == "bearer" and not self.token:
            raise ValueError("auth 'bearer' needs a token")
        if self.auth == "basic" and (not self.username or self.password is None):
            raise ValueError("auth 'basic' needs a username and a password")
        if self.username and ":" in self.username:
            raise ValueError("username must not contain ':'")
        return self

    @property
    def sends_credentials(self) -> bool:
        return self.auth != "none"

    def auth_headers(self) -> dict[str, str]:
        if self.auth == "bearer" and self.token:
            return bearer(self.token)
        if self.auth == "basic" and self.username is not None:
            return basic(self.username, self.password or "")
        return {}

    def client(self, accept: str) -> Client:
        """A client that sends the credentials (only to the URLs asked for: no redirects
        are followed) and gives up after ``timeout_s`` per request."""
        return Client(
            headers={"Accept": accept, "User-Agent": USER_AGENT, **self.auth_headers()},
            timeout_s=self.timeout_s,
            max_bytes=self.max_bytes,
        )
