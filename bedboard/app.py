"""``create_app(settings)``: wires the database, middleware, API, pages and health endpoints."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import aiohttp_jinja2
import asyncpg
import jinja2
from aiohttp import WSCloseCode, web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bedboard import (
    auth,
    board,
    census,
    database,
    localtime,
    logsafe,
    public,
    ratelimit,
    scheduler,
    workers,
)
from bedboard.api import admin as _admin_api  # noqa: F401 -- registers routes
from bedboard.api import board as _board_api  # noqa: F401 -- registers routes
from bedboard.api import directory as _directory_api  # noqa: F401 -- registers routes
from bedboard.api import feeds as _feeds_api  # noqa: F401 -- registers routes
from bedboard.api import notifications as _notifications_api  # noqa: F401 -- registers routes
from bedboard.api import placement_calls as _placement_calls_api  # noqa: F401 -- registers routes
from bedboard.api import placement_packet as _placement_packet_api  # registers routes
from bedboard.api import placements as _placements_api  # noqa: F401 -- registers routes
from bedboard.api import public as _public_api  # noqa: F401 -- registers routes
from bedboard.api import referral_messages as _messages_api  # noqa: F401 -- registers routes
from bedboard.api import regions as _regions_api  # noqa: F401 -- registers routes
from bedboard.api import reports as _reports_api  # noqa: F401 -- registers routes
from bedboard.api import search as _search_api  # noqa: F401 -- registers routes
from bedboard.api import session as _session_api  # noqa: F401 -- registers routes
from bedboard.api.registry import add_routes, openapi_document
from bedboard.board import BoardCache
from bedboard.context import (
    BOARD_CACHE,
    CENSUS_OUTCOMES,
    DSN,
    HUB,
    LISTENER,
    METRICS,
    POOL,
    PRINCIPAL,
    PUBLIC_CACHEABLE,
    PUBLIC_LIMITER,
    PUBLIC_SUMMARY,
    REQUEST_ID,
    SECRET,
    SETTINGS,
    TOKENS,
    WEBSOCKETS,
    current_principal,
    deny,
    origin,
    origin_allowed,
    write_pending_denial,
)
from bedboard.errors import DomainError
from bedboard.live import Hub, OutboxListener
from bedboard.pages import labels, render_error, setup_pages
from bedboard.pages.notifications import load_alerts
from bedboard.problems import Problem, from_domain, problem_response
from bedboard.settings import Settings
from bedboard.websocket import run_ticks, websocket

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_S = 5
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SIGN_IN_PATHS = frozenset({"/api/v1/login", "/login"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_REQUESTS = "bedboard_http_requests"
HTTP_SECONDS = "bedboard_http_request_duration_seconds"
REQUESTS_KEY = web.AppKey("requests_counter", Counter)
LATENCY_KEY = web.AppKey("latency_histogram", Histogram)


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/ws"


# --------------------------------------------------------------------------- middleware


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, timing and metrics for every request."""
    incoming = request.headers.get("X-Request-Id", "")
    request[REQUEST_ID] = incoming if _REQUEST_ID_RE.match(incoming) else secrets.token_hex(8)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        label = resource.canonical if resource is not None else "unmatched"
        request.app[REQUESTS_KEY].labels(request.method, label, str(status)).inc()
        request.app[LATENCY_KEY].labels(label).observe(time.perf_counter() - started)


def _problem(request: web.Request, problem: Problem) -> web.Response:
    return problem_response(problem, instance=request.path, request_id=request.get(REQUEST_ID))


def _unavailable() -> Problem:
    return Problem(
        503,
        "The database is unreachable. Try again shortly.",
        code="database-unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _failure(request: web.Request, problem: Problem) -> web.Response:
    return _problem(request, problem) if is_api(request) else render_error(request, problem)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes problem+json on the API and a readable page elsewhere."""
    try:
        return await handler(request)
    except (Problem, DomainError) as exc:
        problem = exc if isinstance(exc, Problem) else from_domain(exc)
        try:
            await write_pending_denial(request)  # after the handler's transaction rolled back
        except database.DOWN_ERRORS:
            return _failure(request, _unavailable())
        if not is_api(request) and problem.status == 401:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='/')}") from None
        return _failure(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400 or (not is_api(request) and exc.status == 405):
            raise
        detail = {
            404: "No such endpoint." if is_api(request) else "There is no page at this address.",
            405: f"{request.method} is not allowed here.",
            413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
        }.get(exc.status, exc.reason)
        keep = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return _failure(request, Problem(exc.status, detail, headers=keep))
    except database.DOWN_ERRORS:
        log.warning("database unavailable during %s %s", request.method, request.path)
        return _failure(request, _unavailable())
    except asyncpg.DataError as exc:
        # A value the database cannot take (out of range, bad text): the request's fault.
        # The shared field types refuse these first; this is the backstop.
        log.warning("refused a value the database cannot store: %s", logsafe.describe(exc))
        return _failure(
            request,
            Problem(
                422,
                "A value in the request is out of range or is not text the database can store.",
                code="validation-error",
            ),
        )
    except Exception as exc:  # noqa: BLE001 -- logged by logsafe
        logsafe.log_failure(
            log,
            "unhandled error in %s %s (request %s)",
            request.method,
            request.path,
            request.get(REQUEST_ID),
            exc=exc,
        )
        return _failure(
            request,
            Problem(500, "Something went wrong on our side; it has been logged.", code="internal"),
        )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the principal from a bearer token or session cookie; enforce CSRF for cookies."""
    if request.path.startswith("/static/") or request.path in ("/healthz", "/readyz", "/metrics"):
        return await handler(request)
    pool = request.app[POOL]
    authorization = request.headers.get("Authorization", "")
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    principal: auth.Principal | None = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(
                401,
                "Use Authorization: Bearer <token>.",
                code="unauthenticated",
                headers={"WWW-Authenticate": 'Bearer realm="bedboard"'},
            )
        principal = await request.app[TOKENS].load(lambda: database.acquire(pool), token.strip())
        if principal is None:
            raise Problem(
                401,
                "The API token is unknown or revoked.",
                code="invalid-token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
    elif cookie and request.method == "POST" and request.path in _SIGN_IN_PATHS:
        # Signing in starts a new session whatever cookie is held; the old one is not used.
        if not origin_allowed(request):
            raise Problem(403, "Sign in from this service's own pages.", code="bad-origin")
    elif cookie:
        async with database.acquire(pool) as conn:
            principal = await auth.load_session(conn, request.app[SETTINGS], cookie)
        if principal is not None and request.method in _UNSAFE:
            given = request.headers.get("X-CSRF-Token")
            if given is None and not is_api(request):
                form = await request.post()
                value = form.get("csrf_token")
                given = value if isinstance(value, str) else None
            if not auth.csrf_matches(principal.csrf_token, given) or not origin_allowed(request):
                deny(
                    request, principal, "csrf", "request", request.path, "bad CSRF token or Origin"
                )
                raise Problem(
                    403, "Missing or wrong CSRF token; reload the page and try again.", code="csrf"
                )
    if principal is not None:
        request[PRINCIPAL] = dataclasses.replace(principal, origin=origin(request))
    return await handler(request)


# Pages an overdue facility user may still open: the census form itself, signing in and
# out, help, the pages a signed link opens; never static files, the API or health checks.
_OVERDUE_OPEN_PATHS = frozenset({"/census", "/login", "/logout", "/favicon.ico", "/help"})
_OVERDUE_OPEN_PREFIXES = ("/static/", "/api/", "/help/", "/n/", "/c/", "/calendar/")


def _overdue_may_open(request: web.Request) -> bool:
    path = request.path
    if path in _OVERDUE_OPEN_PATHS or path.startswith(_OVERDUE_OPEN_PREFIXES) or is_api(request):
        return True
    if path in ("/healthz", "/readyz", "/metrics"):
        return True
    # Home's deliberate way past the form (the form's "Go to home anyway" link).
    return path == "/" and request.query.get("anyway") == "1"


@web.middleware
async def overdue_first(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A signed-in facility user whose facility is overdue (a unit late, stale or never
    reported) opens the census form first, from any page but those above; only page
    views (GET, HEAD) are redirected, so no submitted form is lost."""
    principal = current_principal(request)
    if (
        principal is not None
        and principal.role is auth.Role.FACILITY
        and principal.facility_ids
        and request.method in ("GET", "HEAD")
        and not _overdue_may_open(request)
    ):
        async with database.acquire(request.app[POOL]) as conn:
            now = await board.db_now(conn)
            overdue = await census.any_overdue(conn, principal.facility_ids, now)
        if overdue:
            raise web.HTTPSeeOther("/census?overdue=1")
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    request_id = request.get(REQUEST_ID)
    if request_id:
        headers.setdefault("X-Request-Id", request_id)
    # Nothing shown to a signed-in person is kept by the browser: after sign-out on a
    # shared ward workstation, Back must not show clinical notes. Static assets excepted.
    private = current_principal(request) is not None
    if request.path in PUBLIC_CACHEABLE and response.status == 200:
        pass  # the same for everyone: the handler's Cache-Control (context.public_cache_headers)
    elif not request.path.startswith("/static/") and (
        private or request.path.startswith("/api/") or request.path in ("/login", *PUBLIC_CACHEABLE)
    ):
        headers["Cache-Control"] = "no-store"
    if request.app[SETTINGS].secure_cookies:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    headers["Server"] = "bedboard"  # no version numbers for scanners


# --------------------------------------------------------------------------- health


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with database.acquire(request.app[POOL]) as conn:
            pending = await database.pending_migrations(conn)
    except database.DOWN_ERRORS:
        return web.json_response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    except database.MigrationError as exc:
        return web.json_response({"status": "unavailable", "migrations": str(exc)}, status=503)
    if pending:
        return web.json_response(
            {"status": "unavailable", "pending_migrations": pending}, status=503
        )
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, only for a scraper with ``BEDBOARD_METRICS_TOKEN`` (the counters
    say how busy the service is and where it fails: not for everyone)."""
    expected = request.app[SETTINGS].metrics_token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not expected:
        raise web.HTTPNotFound()
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return web.Response(
            status=401,
            text="Send the metrics token: Authorization: Bearer <BEDBOARD_METRICS_TOKEN>.\n",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = request.app[METRICS]
    if workers.counts_together():
        # One of several workers: answer with all of theirs, whichever one is asked.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


# --------------------------------------------------------------------------- factory


def _database_ctx(migrate: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        if not settings.feed_dirs:
            # The default folder for file feeds (BEDBOARD_FEED_DIRS unset) exists from the
            # first start, so an operator can drop files there without creating it first.
            (settings.data_dir / "feeds").mkdir(parents=True, exist_ok=True)
        dsn, embedded = await database.start_database(settings)
        supervisor = (
            asyncio.create_task(database.supervise(embedded), name="embedded-postgres")
            if embedded is not None
            else None
        )
        if migrate:
            applied = await database.prepare_database(dsn)
            if applied:
                log.info("database migrated: %s", ", ".join(applied))
        app[DSN] = dsn
        app[POOL] = await database.create_pool(
            dsn, min_size=settings.db_pool_min_size, max_size=settings.db_pool_max_size
        )
        try:
            yield
        finally:
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
            await app[POOL].close()

    return ctx


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hub, the outbox listener, the live tick (heartbeats and credential re-checks
    for every websocket) and the scheduled jobs of this instance."""
    hub = Hub()
    listener = OutboxListener(app[DSN], app[POOL], hub)
    await listener.start_position()
    app[HUB] = hub
    app[LISTENER] = listener
    task = asyncio.create_task(listener.run(), name="outbox-listener")
    ticks = asyncio.create_task(run_ticks(hub, app[POOL]), name="live-ticks")
    jobs = scheduler.build(app[POOL], app[SETTINGS])
    jobs.start()
    try:
        yield
    finally:
        jobs.shutdown(wait=False)
        ticks.cancel()
        await asyncio.gather(ticks, return_exceptions=True)
        task.cancel()
        # Cancelled mid-query, asyncpg may raise its own error while resetting the connection.
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(outcome, asyncio.CancelledError | None):
            log.debug("outbox listener stopped with %r", outcome)


async def _mllp_ctx(app: web.Application) -> AsyncIterator[None]:
    """The HL7 v2 MLLP listener, on instances configured to listen (BEDBOARD_MLLP_LISTEN)."""
    address = app[SETTINGS].mllp_address
    server = None
    if address is not None:
        from bedboard.feeds import mllp

        server = await mllp.start_listener(app[POOL], *address, reuse_port=workers.reuse_port())
        log.info("listening for HL7 v2 (MLLP) on %s:%s", *address)
    try:
        yield
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()


async def settle_heap(app: web.Application) -> None:
    """An on_startup hook for a serving process, added last: what start-up built (modules,
    templates, the pool, the adapters) lives as long as the process, so move it out of the
    garbage collector's way. A full collection during requests then walks only what the
    requests made; walking the start-up heap paused the loop for tens of milliseconds.
    Not in ``create_app``: a test run builds hundreds of apps in one process."""
    gc.collect()
    gc.freeze()


async def _close_websockets(app: web.Application) -> None:
    sockets = app[WEBSOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def static_dir() -> Path:
    return Path(str(resources.files("bedboard.web").joinpath("static")))


def create_app(settings: Settings, *, migrate: bool = True) -> web.Application:
    """Build the application. Start-up connects (embedded or configured PostgreSQL) and migrates."""
    app = web.Application(
        middlewares=[
            request_context,
            errors,
            _placement_packet_api.large_uploads,  # upload routes take files past MAX_BODY_BYTES
            authenticate,
            overdue_first,
            load_alerts,
        ],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[SECRET] = settings.resolved_secret_key()
    registry = CollectorRegistry()
    app[METRICS] = registry
    app[REQUESTS_KEY] = Counter(
        HTTP_REQUESTS, "HTTP requests", ["method", "route", "status"], registry=registry
    )
    app[LATENCY_KEY] = Histogram(HTTP_SECONDS, "HTTP request latency", ["route"], registry=registry)
    app[CENSUS_OUTCOMES] = Counter(
        "bedboard_census_reports", "Census reports by outcome", ["outcome"], registry=registry
    )
    app[WEBSOCKETS] = weakref.WeakSet()
    app[TOKENS] = auth.TokenCache()
    app[BOARD_CACHE] = BoardCache()
    app[PUBLIC_SUMMARY] = public.SummaryCache(
        zone=settings.timezone, with_facilities=settings.public_facilities
    )
    app[PUBLIC_LIMITER] = ratelimit.TokenBuckets(
        capacity=public.RATE_BURST, per_second=public.RATE_PER_S
    )
    app.cleanup_ctx.append(_database_ctx(migrate))
    app.cleanup_ctx.append(_live_ctx)
    app.cleanup_ctx.append(_mllp_ctx)
    app.on_shutdown.append(_close_websockets)
    app.on_response_prepare.append(security_headers)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/ws", websocket)
    add_routes(app)

    static = app.router.add_static("/static", static_dir(), append_version=True, name="static")
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bedboard.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["static"] = lambda filename: str(static.url_for(filename=filename))
    zone = settings.zone
    env.globals["timezone_name"] = settings.timezone
    env.globals["zone_label"] = localtime.zone_label(settings.timezone)
    env.filters["local"] = lambda value: localtime.format_datetime(value, zone)
    env.filters["local_seconds"] = lambda value: localtime.format_datetime(
        value, zone, seconds=True
    )
    env.filters["local_time"] = lambda value: localtime.format_time(value, zone)
    env.filters["local_date"] = lambda value: localtime.format_date(value, zone)
    env.filters["local_input"] = lambda value: localtime.format_input(value, zone)
    env.filters["label"] = labels.label
    env.filters["county"] = labels.county
    env.filters["hours"] = labels.hours
    setup_pages(app)
    return app
