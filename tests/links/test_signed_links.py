"""Signed links refuse tampering, expiry, revocation and reuse; every open is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bedboard import links
from bedboard.auth import Origin, Principal, Role
from bedboard.errors import LinkGone, LinkRefused
from bedboard.links import Purpose, Signer
from tests.conftest import TEST_SECRET

SIGNER = Signer(TEST_SECRET)
ORIGIN = Origin(remote_addr="127.0.0.9", request_id="test-request")
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def _issue(conn: Any, *, single_use: bool = False, minutes: int = 30) -> tuple[Any, str]:
    return await links.issue(
        conn,
        SIGNER,
        Purpose.CENSUS_NUDGE,
        4242,
        by=None,
        now=T0,
        expires_at=T0 + timedelta(minutes=minutes),
        single_use=single_use,
    )


async def _opens(conn: Any) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT actor, outcome, object_id, detail, remote_addr FROM audit_log"
        " WHERE action = 'link.open' ORDER BY id"
    )
    return [dict(r) for r in rows]


async def test_a_link_opens_before_it_expires_and_the_open_is_audited(conn: Any) -> None:
    link, token = await _issue(conn)
    opened = await links.verify(
        conn, SIGNER, Purpose.CENSUS_NUDGE, token, now=T0 + timedelta(minutes=29), origin=ORIGIN
    )
    assert opened.link.id == link.id and opened.link.subject_id == 4242
    (row,) = await _opens(conn)
    assert row["outcome"] == "success" and row["object_id"] == str(link.id)
    assert row["detail"] == {"purpose": "census_nudge", "subject_id": 4242}
    assert row["remote_addr"] == "127.0.0.9"


async def test_the_token_is_never_stored_only_its_hash(conn: Any) -> None:
    link, token = await _issue(conn)
    row = await conn.fetchrow("SELECT * FROM signed_links WHERE id = $1", link.id)
    assert bytes(row["token_hash"]) == links.token_hash(token)
    assert token.encode() not in b"".join(
        str(v).encode() for v in dict(row).values() if not isinstance(v, bytes)
    )


@pytest.mark.parametrize(
    "alter",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: "x" + t,  # payload changed
        lambda t: "",
        lambda t: "not-a-token-at-all",
    ],
    ids=["signature", "truncated", "payload", "empty", "garbage"],
)
async def test_an_altered_token_is_refused_and_audited(conn: Any, alter: Any) -> None:
    await _issue(conn)
    _, token = await _issue(conn)
    with pytest.raises(LinkRefused):
        await links.verify(conn, SIGNER, Purpose.CENSUS_NUDGE, alter(token), now=T0, origin=ORIGIN)
    (row,) = await _opens(conn)
    assert row["outcome"] == "failure" and row["detail"]["reason"] == "link-refused"


async def test_a_token_for_another_purpose_or_signed_with_another_key_is_refused(
    conn: Any,
) -> None:
    _, token = await _issue(conn)
    with pytest.raises(LinkRefused):
        await links.verify(conn, SIGNER, Purpose.COURT_STATUS, token, now=T0, origin=ORIGIN)
    other = Signer("another-secret-key-" + "y" * 32)
    forged = other.dumps(Purpose.CENSUS_NUDGE, (await _issue(conn))[0].id)
    with pytest.raises(LinkRefused):
        await links.verify(conn, SIGNER, Purpose.CENSUS_NUDGE, forged, now=T0, origin=ORIGIN)


async def test_a_well_signed_token_that_is_not_the_rows_token_is_refused(conn: Any) -> None:
    """Signed with our key for the right id, but not the token issued: the hash check."""
    link, _ = await _issue(conn)
    again = SIGNER.dumps(Purpose.CENSUS_NUDGE, link.id)
    with pytest.raises(LinkRefused):
        await links.verify(conn, SIGNER, Purpose.CENSUS_NUDGE, again, now=T0, origin=ORIGIN)


async def test_an_expired_link_is_gone(conn: Any) -> None:
    _, token = await _issue(conn, minutes=30)
    with pytest.raises(LinkGone, match="expired"):
        await links.verify(
            conn, SIGNER, Purpose.CENSUS_NUDGE, token, now=T0 + timedelta(minutes=30), origin=ORIGIN
        )
    (row,) = await _opens(conn)
    assert row["outcome"] == "failure" and row["detail"]["reason"] == "link-gone"
    assert row["object_id"] == str(await conn.fetchval("SELECT max(id) FROM signed_links"))


async def test_a_revoked_link_is_gone(conn: Any, make_user: Any) -> None:
    liaison = await make_user(Role.LIAISON, password=None)
    by = Principal(user_id=liaison.id, email=liaison.email, display_name="L", role=Role.LIAISON)
    link, token = await links.issue(
        conn,
        SIGNER,
        Purpose.COURT_STATUS,
        7,
        by=by,
        now=T0,
        expires_at=T0 + timedelta(days=14),
        single_use=False,
    )
    assert await links.verify(conn, SIGNER, Purpose.COURT_STATUS, token, now=T0, origin=ORIGIN)
    await links.revoke(conn, Purpose.COURT_STATUS, 7, link.id, by=by)
    with pytest.raises(LinkGone, match="revoked"):
        await links.verify(conn, SIGNER, Purpose.COURT_STATUS, token, now=T0, origin=ORIGIN)
    audit = await conn.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'link.revoke' AND object_id = $1",
        str(link.id),
    )
    assert audit == 1


async def test_a_single_use_link_opens_until_it_is_used_then_never_again(conn: Any) -> None:
    link, token = await _issue(conn, single_use=True)
    opened = await links.verify(conn, SIGNER, Purpose.CENSUS_NUDGE, token, now=T0, origin=ORIGIN)
    assert opened.link.id == link.id
    await links.mark_used(conn, opened.link, now=T0)
    with pytest.raises(LinkGone, match="used"):
        await links.mark_used(conn, opened.link, now=T0)  # a second submit racing the first
    with pytest.raises(LinkGone, match="used"):
        await links.verify(conn, SIGNER, Purpose.CENSUS_NUDGE, token, now=T0, origin=ORIGIN)
    assert [r["outcome"] for r in await _opens(conn)] == ["success", "failure"]
