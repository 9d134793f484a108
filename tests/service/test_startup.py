"""What start-up prepares on disk besides the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bedboard.app import create_app
from bedboard.settings import Settings


async def test_start_up_creates_the_default_feed_folder(
    aiohttp_client: Any, settings: Settings
) -> None:
    default = settings.data_dir / "feeds"
    assert not default.exists()
    await aiohttp_client(create_app(settings))
    assert default.is_dir()
    assert default.resolve() in settings.allowed_feed_dirs


async def test_start_up_leaves_configured_feed_folders_to_the_operator(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    configured = tmp_path / "drops"
    custom = settings.model_copy(update={"feed_dirs": [configured]})
    await aiohttp_client(create_app(custom))
    assert not configured.exists()
    assert not (settings.data_dir / "feeds").exists()
