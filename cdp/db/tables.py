"""The schema of cdp's Postgres store, as SQLAlchemy Core tables (no ORM in any hot path).

The Alembic migrations under `migrations/versions` create exactly these tables; a test compares the
two so that neither drifts.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

__all__ = [
    "api_keys",
    "audit_log",
    "computed_trait_values",
    "computed_traits",
    "consumer_offsets",
    "data_key_rotations",
    "destination_members",
    "destination_pending",
    "destination_retries",
    "destination_status",
    "destinations",
    "events",
    "group_members",
    "groups",
    "identifiers",
    "merges",
    "metadata",
    "outbox",
    "pii_state",
    "privacy_drops",
    "privacy_requests",
    "privacy_suppressions",
    "processed_messages",
    "profiles",
    "segment_checks",
    "segment_memberships",
    "segments",
    "sources",
]

metadata = sa.MetaData()

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("write_key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("write_key_hint", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
)

NOW = sa.func.now()

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("traits", JSONB, nullable=False),
    sa.Column("trait_times", JSONB, nullable=False),
    sa.Column("computed", JSONB, nullable=False),
    sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("profiles.id")),
    sa.Column("merge_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

identifiers = sa.Table(
    "identifiers",
    metadata,
    sa.Column("id_type", sa.Text, primary_key=True),
    sa.Column("id_value", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("value_enc", sa.LargeBinary),
    sa.Column("key_id", sa.Text),
    sa.Index("identifiers_profile", "profile_id"),
)

merges = sa.Table(
    "merges",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("from_profile", sa.BigInteger, nullable=False),
    sa.Column("into_profile", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message_id", sa.Text),
    sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Index("merges_into", "into_profile"),
    sa.Index("merges_from", "from_profile"),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("group_id", sa.Text, primary_key=True),
    sa.Column("traits", JSONB, nullable=False),
    sa.Column("trait_times", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Index("group_members_profile", "profile_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("profile_id", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source_id", sa.Text),
    sa.Column("properties", JSONB, nullable=False),
    sa.Column("context", JSONB, nullable=False),
    sa.Index("events_profile_time", "profile_id", sa.text("event_time DESC")),
    postgresql_partition_by="RANGE (event_time)",
)

processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("message_id", sa.Text(collation="C"), primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Index(
        "processed_messages_at",
        "processed_at",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    ),
)

consumer_offsets = sa.Table(
    "consumer_offsets",
    metadata,
    sa.Column("consumer_group", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.LargeBinary),
    sa.Column("value", sa.LargeBinary),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("fanout_topic", sa.Text),
    sa.Column("fanout_tombstone", sa.Boolean, nullable=False, server_default=sa.false()),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("backfilled_version", sa.Integer, nullable=False, server_default="0"),
)

segment_memberships = sa.Table(
    "segment_memberships",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Index("segment_memberships_profile", "profile_id", "slug"),
)

segment_checks = sa.Table(
    "segment_checks",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("segment_checks_due", "check_at"),
)

privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("id_type", sa.Text, nullable=False),
    sa.Column("id_hash", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Index("privacy_requests_status", "status"),
)

privacy_suppressions = sa.Table(
    "privacy_suppressions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id_hash", sa.Text, nullable=False, unique=True),
    sa.Column("request_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

privacy_drops = sa.Table(
    "privacy_drops",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id_hash", sa.Text, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("key_hash", sa.Text, nullable=False),
    sa.Column("roles", ARRAY(sa.Text), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", JSONB, nullable=False),
    sa.Index("audit_log_at", "at"),
)

destinations = sa.Table(
    "destinations",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

destination_status = sa.Table(
    "destination_status",
    metadata,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("delivered", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("aborted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("suppressed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("retrying", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

destination_members = sa.Table(
    "destination_members",
    metadata,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("segment", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

destination_pending = sa.Table(
    "destination_pending",
    metadata,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("segment", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("change_id", sa.Text, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

destination_retries = sa.Table(
    "destination_retries",
    metadata,
    sa.Column("destination", sa.Text, primary_key=True),
    sa.Column("change_id", sa.Text, primary_key=True),
    sa.Column("profile_id", sa.BigInteger, nullable=False),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
)

computed_traits = sa.Table(
    "computed_traits",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

_STATE_VALUE = "cdp_trait_value(kind, n, total, low, high, first_value, last_value, counts)"


def _finite(column: str, value: str) -> str:
    return (
        f"CASE WHEN {column} > '-Infinity' AND {column} < 'Infinity' "
        f"THEN ({value})::text::jsonb ELSE {_STATE_VALUE} END"
    )


#: The value of a configured computed trait from its aggregate state (see migrations 0008, 0010).
TRAIT_VALUE = (
    "CASE kind"
    " WHEN 'counter' THEN n::text::jsonb"
    f" WHEN 'sum' THEN {_finite('total', 'total')}"
    f" WHEN 'avg' THEN {_finite('total', 'trim_scale(round(total / nullif(n, 0), 10))')}"
    f" WHEN 'min' THEN {_finite('low', 'low')}"
    f" WHEN 'max' THEN {_finite('high', 'high')}"
    " WHEN 'first' THEN first_value"
    " WHEN 'last' THEN last_value"
    " WHEN 'unique_count' THEN"
    " coalesce(jsonb_array_length(jsonb_path_query_array(counts, '$.*')), 0)::text::jsonb"
    " WHEN 'most_frequent' THEN cdp_most_frequent(counts)"
    f" ELSE {_STATE_VALUE} END"
)

computed_trait_values = sa.Table(
    "computed_trait_values",
    metadata,
    sa.Column("profile_id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Numeric),
    sa.Column("low", sa.Numeric),
    sa.Column("high", sa.Numeric),
    sa.Column("first_at", sa.DateTime(timezone=True)),
    sa.Column("first_key", sa.Text(collation="C")),
    sa.Column("first_value", JSONB),
    sa.Column("last_at", sa.DateTime(timezone=True)),
    sa.Column("last_key", sa.Text(collation="C")),
    sa.Column("last_value", JSONB),
    sa.Column("counts", JSONB),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("value", JSONB, sa.Computed(TRAIT_VALUE, persisted=True)),
    sa.Index("computed_trait_values_name", "name"),
    sa.Index(
        "computed_trait_values_expires",
        "expires_at",
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    ),
    postgresql_with={"fillfactor": 80},
)

pii_state = sa.Table(
    "pii_state",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True),
    sa.Column("encrypted", sa.Boolean, nullable=False),
    sa.Column("hash_check", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.CheckConstraint("id = 1", name="pii_state_one_row"),
)

data_key_rotations = sa.Table(
    "data_key_rotations",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("progress", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("requested_by", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)
