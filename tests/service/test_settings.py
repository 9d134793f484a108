"""Settings: every one documented in the README; bad values stop start-up naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bedboard.settings import Settings, SettingsError, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"BEDBOARD_{name.upper()}"
        for name in Settings.model_fields
        if f"`BEDBOARD_{name.upper()}`" not in text
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BEDBOARD_PORT", "eighty"),
        ("BEDBOARD_PORT", "70000"),
        ("BEDBOARD_DATABASE_URL", "mysql://nope"),
        ("BEDBOARD_SECRET_KEY", "short"),
        ("BEDBOARD_PUBLIC_URL", "not a url"),
        ("BEDBOARD_SESSION_IDLE_MINUTES", "0"),
        ("BEDBOARD_LOG_LEVEL", "LOUD"),
        ("BEDBOARD_DEMO_SIMULATE", "perhaps"),
        ("BEDBOARD_PUBLIC_FACILITIES", "perhaps"),
    ],
)
def test_an_invalid_setting_stops_start_up_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"invalid setting {variable}:")


def test_defaults_bind_loopback_port_8080(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"BEDBOARD_{name.upper()}", raising=False)
    settings = load_settings()
    assert (settings.host, settings.port, settings.database_url) == ("127.0.0.1", 8080, None)


def test_public_facilities_are_off_unless_the_environment_turns_them_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BEDBOARD_PUBLIC_FACILITIES", raising=False)
    assert load_settings().public_facilities is False
    monkeypatch.setenv("BEDBOARD_PUBLIC_FACILITIES", "true")
    assert load_settings().public_facilities is True


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    second = Settings(data_dir=tmp_path).resolved_secret_key()
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_cookies_are_secure_only_behind_https() -> None:
    assert Settings(public_url="https://beds.example.org").secure_cookies  # type: ignore[arg-type]
    assert not Settings(public_url="http://localhost:8080").secure_cookies  # type: ignore[arg-type]
    assert not Settings().secure_cookies
