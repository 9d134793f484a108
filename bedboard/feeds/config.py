"""A feed's settings: validated by its kind's model, secrets split off, local paths kept
inside the feed folders; and the adapter built from them for a poll or a check."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bedboard.errors import FieldError, Invalid
from facility_adapters import load_all
from facility_adapters.base import REGISTRY, Adapter, AdapterConfig

load_all()


def adapter_class(kind: str) -> type[Adapter]:
    adapter = REGISTRY.get(kind)
    if adapter is None:
        raise Invalid.field(
            "kind", f"one of {', '.join(sorted(REGISTRY))}", "enum", detail="Unknown feed kind."
        )
    return adapter


def validate_config(
    kind: str, settings: dict[str, Any], allowed_dirs: Sequence[Path] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check settings against the kind's model; return (plain settings, secrets). With
    ``allowed_dirs``, a local path in the *validated* settings (after the model trimmed and
    normalized it) must be inside one of them."""
    adapter = adapter_class(kind)
    try:
        model = adapter.Config.model_validate(settings)
    except ValidationError as exc:
        # Not Invalid.of: a model-level error (empty location) is reported as "config.",
        # as it always was, not as "config".
        raise Invalid(
            "The feed's settings are invalid.",
            [
                FieldError("config." + ".".join(str(p) for p in e["loc"]), e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_input=False)
            ],
        ) from None
    values = model.model_dump(mode="json")
    secrets = {
        k: v for k, v in values.items() if k in adapter.SECRET_FIELDS and v not in (None, "")
    }
    plain = {k: v for k, v in values.items() if k not in adapter.SECRET_FIELDS}
    if allowed_dirs is not None:
        check_local_paths(plain, allowed_dirs)
    return plain, secrets


def build_adapter(
    kind: str,
    config: dict[str, Any],
    secrets: dict[str, Any],
    allowed_dirs: Sequence[Path] | None = None,
) -> Adapter:
    """An adapter for a stored feed; local files it reads must resolve inside
    ``allowed_dirs`` (None: no folder rule, for adapters used on their own)."""
    adapter = adapter_class(kind)
    model: AdapterConfig = adapter.Config.model_validate({**config, **secrets})
    built = adapter(model)
    if allowed_dirs is not None:
        built.allowed_dirs = tuple(Path(os.path.realpath(d)) for d in allowed_dirs)
    return built


def check_local_paths(config: dict[str, Any], allowed: Sequence[Path]) -> None:
    """Refuse settings naming a local file outside the folders feeds may read: an
    administrator's feed must not turn the service into a reader of arbitrary files."""
    for key, value in config.items():
        if not isinstance(value, str) or not value.strip().startswith("/"):
            continue
        path = Path(os.path.realpath(value.strip()))
        if not any(path == root or path.is_relative_to(root) for root in allowed):
            roots = ", ".join(str(r) for r in allowed)
            raise Invalid.field(
                f"config.{key}",
                f"must be inside {roots} (BEDBOARD_FEED_DIRS)",
                "path",
                detail="Feeds may only read files in the configured folders.",
            )
