"""Destination definitions: where membership changes of which segments go, and on what terms.

A file (YAML, or JSON when the name ends in `.json`) holds one destination, a list of them or
`{destinations: [...]}`. Example::

    name: crm-webhook
    segments: [high-value, churn-risk]
    consent: [marketing]
    rate_limit: 50            # changes per second
    retry: {max_attempts: 8, max_age_s: 3600}
    channel:
      type: webhook
      url: https://example.com/hooks/cdp
      secret: whsec_...
      timeout_s: 5
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from cdp.activation.destinations.errors import DestinationConfigError

__all__ = [
    "Destination",
    "KafkaChannel",
    "RetryPolicy",
    "WebhookChannel",
    "load_destinations",
    "parse_destinations",
]

#: What `list` shows in place of a secret.
MASK = "********"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryPolicy(_Model):
    """When to give up on a change: after `max_attempts` tries or `max_age_s` since the first.

    Backoff before attempt n+1 is a uniform draw in [0, min(max_backoff_s, base_backoff_s * 2**n)]
    ("full jitter"), unless the receiver sent `Retry-After`, which wins (capped at `max_backoff_s`).
    """

    max_attempts: int = Field(default=8, ge=1, le=100)
    max_age_s: float = Field(default=3600.0, gt=0)
    base_backoff_s: float = Field(default=0.5, gt=0)
    max_backoff_s: float = Field(default=60.0, gt=0)


class WebhookChannel(_Model):
    """JSON POST to `url`, signed with `secret` (HMAC-SHA256 over `timestamp.body`)."""

    type: Literal["webhook"] = "webhook"
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    secret: SecretStr
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    headers: dict[str, str] = Field(default_factory=dict)
    concurrency: int = Field(default=16, ge=1, le=256)
    """Profiles delivered at once; changes of one profile are always sent one after another."""


class KafkaChannel(_Model):
    """Produce each change (JSON) to `topic`, keyed by profile id."""

    type: Literal["kafka"] = "kafka"
    topic: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]


Channel = Annotated[WebhookChannel | KafkaChannel, Field(discriminator="type")]


class Destination(_Model):
    """A destination: its name, the segments it receives, its channel and its terms."""

    name: Annotated[str, Field(pattern=NAME.pattern)]
    segments: Annotated[list[str], Field(min_length=1)]
    channel: Channel
    consent: list[str] = Field(default_factory=list)
    """Purposes a profile must have granted; a purpose never decided is not granted."""
    rate_limit: float = Field(default=100.0, gt=0, le=100_000)
    """Changes per second at most (token bucket; bursts up to one second's worth)."""
    retry: RetryPolicy = RetryPolicy()
    traits: list[str] | None = None
    """Traits sent with each change; None sends those the segment emits."""
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """The definition as JSON with secrets masked, for listing."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if "secret" in data["channel"]:
            data["channel"]["secret"] = MASK
        return data

    def stored(self) -> dict[str, Any]:
        """The definition as JSON including secrets, for the database."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if isinstance(self.channel, WebhookChannel):
            data["channel"]["secret"] = self.channel.secret.get_secret_value()
        return data


_MANY = TypeAdapter(list[Destination])


def parse_destinations(data: Any, source: str | None = None) -> list[Destination]:
    """Validate `data` (one mapping, a list, or `{destinations: [...]}`) into destinations."""
    if isinstance(data, dict) and "destinations" in data:
        data = data["destinations"]
    if isinstance(data, dict):
        data = [data]
    prefix = f"{source}: " if source else ""
    try:
        found = _MANY.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise DestinationConfigError(f"{prefix}{problems}") from exc
    names = [d.name for d in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DestinationConfigError(f"{prefix}duplicate names: {', '.join(duplicates)}")
    return found


def load_destinations(path: Path) -> list[Destination]:
    """Read destinations from a YAML file (`safe_load`), or JSON when the name ends in `.json`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise DestinationConfigError(f"{path}: cannot read the file: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise DestinationConfigError(f"{path}: not valid YAML/JSON: {exc}") from exc
    return parse_destinations(data, str(path))
