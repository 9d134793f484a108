"""Runtime configuration: one pydantic-settings model read from ``BEDBOARD_*`` variables.

Every field here must be documented in README.md (a test enforces it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AnyHttpUrl, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
PERSON_LINK_KEY_FILE = "person_link_key"
ATTACHMENT_KEY_FILE = "attachment_key"
MIN_SECRET_KEY_LEN = 32


class SettingsError(Exception):
    """A setting has an invalid value; the message names it in one line."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("bedboard", appauthor=False))


class Settings(BaseSettings):
    """bedboard settings. Field names map to ``BEDBOARD_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BEDBOARD_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL 15+ URL. Unset: an embedded PostgreSQL in <data dir>/pg.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded database, secret key and demo credentials live.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP port.")
    secret_key: str | None = Field(
        default=None,
        description="Key for signing tokens. Unset: generated once into <data dir>/secret_key.",
    )
    person_link_key: str | None = Field(
        default=None,
        description=(
            "Key of the fingerprints that find a person's earlier placements (name and date"
            " of birth are never stored). Unset: generated once into <data dir>/person_link_key."
            " Keep it outside the database and its backups; the same on every instance."
        ),
    )
    attachment_key: str | None = Field(
        default=None,
        description=(
            "Key that encrypts placement attachments at rest (AES-GCM). Unset: generated once"
            " into <data dir>/attachment_key. Keep it outside the database and its backups;"
            " the same on every instance."
        ),
    )
    attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="The largest file a liaison may attach to a placement, in bytes.",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The URL users reach bedboard at; websocket and form Origin checks use it.",
    )
    session_idle_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        description="A browser session ends after this much inactivity.",
    )
    session_max_hours: int = Field(
        default=12, ge=1, le=24 * 14, description="A browser session ends this long after login."
    )
    login_max_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins to one account from one address before each further "
        "try from there waits twice as long as the last (1 s, 2 s, 4 s, … up to the window).",
    )
    login_max_failures_per_address: int = Field(
        default=100,
        ge=1,
        description="Failed sign-ins from one address (all accounts) within the window "
        "before that address waits out the window.",
    )
    login_throttle_window_minutes: int = Field(
        default=15, ge=1, description="The sliding window for login throttling."
    )
    trust_proxy_headers: bool = Field(
        default=False,
        description="Take the client address from X-Forwarded-For (trusted proxies only).",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="`bedboard serve`: processes serving the one port. Unset: one per usable core.",
    )
    db_pool_min_size: int = Field(default=2, ge=0, description="Smallest database pool size.")
    db_pool_max_size: int = Field(default=10, ge=1, description="Largest database pool size.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Logging level."
    )
    hold_hours: float = Field(
        default=4.0, gt=0, le=72, description="How long an accepted referral holds its bed."
    )
    hold_warning_minutes: int = Field(
        default=30,
        ge=1,
        le=720,
        description="Warn the liaison this many minutes before a bed hold runs out.",
    )
    referral_expire_hours: float = Field(
        default=4.0,
        ge=0.5,
        le=72,
        description="A referral nobody at the facility answered (no acknowledgement, question, "
        "acceptance or decline) expires this many hours after it was sent.",
    )
    deadline_alert_hours: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [24, 12, 4],
        description="Alert this many hours before a legal deadline (comma-separated), and when it passes.",
    )
    feed_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders file-based feeds may read (comma-separated). Default: <data dir>/feeds.",
    )
    mllp_listen: str | None = Field(
        default=None,
        description="host:port for the HL7 v2 MLLP listener on this instance (unset: no listener).",
    )
    timezone: str = Field(
        default="America/Chicago",
        description="The users' time zone (IANA name): pages show times in it; the API and "
        "the database stay in UTC.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token a scraper sends to read /metrics. Unset: /metrics answers 404.",
    )
    public_facilities: bool = Field(
        default=False,
        description="The public summary (/public, no sign-in) also lists each facility's "
        "units with their free beds; false: only totals by county.",
    )
    demo_simulate: bool = Field(
        default=True,
        description="In `bedboard demo`, run the simulated reporters (false: a still board).",
    )
    smtp_url: str | None = Field(
        default=None,
        description="Where notification email is sent: smtp://host:port (STARTTLS when the "
        "server offers it) or smtps://host:port, optionally with user:password@. Unset: no "
        "email (email deliveries fail and end dead-lettered; `bedboard demo` starts a local sink).",
    )
    mail_from: str = Field(
        default="bedboard@localhost",
        description="The From address of notification email.",
    )
    notify_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Attempts before a delivery is dead-lettered."
    )
    state_on_call_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Where the escalation ladder's 'state on-call' rungs are emailed (unset: "
        "nobody is emailed for them; the placement page still shows them).",
    )
    notify_enabled: bool = Field(
        default=True,
        description="Run the notification jobs (fan-in from the outbox and the dispatcher) "
        "on this instance.",
    )

    base_url: str = Field(
        default="",
        description="The address absolute links (court status links, nudge links) start "
        "with. Unset: BEDBOARD_PUBLIC_URL, else http://127.0.0.1:<port>.",
    )
    court_link_max_days: int = Field(
        default=14,
        ge=1,
        le=366,
        description="A court status link expires this many days after it is issued (or "
        "when the case closes, if sooner).",
    )
    nudge_interval_minutes: int = Field(
        default=30,
        ge=5,
        le=24 * 60,
        description="A late facility is nudged again this long after the last nudge.",
    )
    nudge_max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="Nudges per late episode; after this many, no more until it reports.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("base_url"):
            port = data.get("port") or 8080
            data = {**data, "base_url": str(data.get("public_url") or f"http://127.0.0.1:{port}")}
        return data

    def absolute(self, path: str) -> str:
        """``path`` (starting with ``/``) under ``base_url``."""
        return self.base_url + path

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _secret_key_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < MIN_SECRET_KEY_LEN:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LEN} characters")
        return value

    @field_validator("deadline_alert_hours", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("deadline_alert_hours")
    @classmethod
    def _positive_hours(cls, value: list[int]) -> list[int]:
        if any(h <= 0 or h > 24 * 400 for h in value):
            raise ValueError("each alert point must be between 1 and 9600 hours")
        return sorted(set(value), reverse=True)

    @field_validator("feed_dirs", mode="before")
    @classmethod
    def _comma_separated_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def allowed_feed_dirs(self) -> list[Path]:
        """Where file-based feeds may read: the configured folders, or <data dir>/feeds
        (and the demo's <data dir>/demo-feeds)."""
        if self.feed_dirs:
            return [p.expanduser().resolve() for p in self.feed_dirs]
        return [(self.data_dir / "feeds").resolve(), (self.data_dir / "demo-feeds").resolve()]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone name, e.g. America/Chicago") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("mllp_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 0.0.0.0:2575")
        return value

    @property
    def mllp_address(self) -> tuple[str, int] | None:
        if self.mllp_listen is None:
            return None
        host, _, port = self.mllp_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @property
    def secure_cookies(self) -> bool:
        return self.public_url is not None and self.public_url.scheme == "https"

    def resolved_secret_key(self) -> str:
        """The configured key, or the one kept in the data dir (created on first use)."""
        return self.secret_key or self._key_file(SECRET_KEY_FILE)

    def resolved_person_link_key(self) -> bytes:
        """The person-link fingerprint key: configured, or kept in the data dir."""
        return (self.person_link_key or self._key_file(PERSON_LINK_KEY_FILE)).encode()

    def resolved_attachment_key(self) -> bytes:
        """The attachment encryption key's secret: configured, or kept in the data dir."""
        return (self.attachment_key or self._key_file(ATTACHMENT_KEY_FILE)).encode()

    def _key_file(self, name: str) -> str:
        path = self.data_dir / name
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        return key


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError with one line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BEDBOARD_" + str(first["loc"][0]).upper() if first["loc"] else "BEDBOARD_*"
        raise SettingsError(f"invalid setting {name}: {first['msg']}") from None
