"""A profile's memberships read from one index: `segment_memberships_profile` on (profile_id,
slug) instead of (profile_id).

Every batch the processor reads the current memberships of the profiles it changed
(`slug = ANY(...) AND profile_id = ANY(...)`). With the primary key (slug, profile_id) and a
profile index that lacks the slug, Postgres answered by skip-scanning the whole primary key,
whose size grows with the number of memberships. With the slug in the profile index the read
probes it once per profile and never visits the table.

Measured on the memberships of `cdp bench pipeline --segments 50 --computed-traits 20` (304,393
rows) for 1,500 profiles and the 50 slugs: 39 ms → 7 ms, with or without table statistics.
Every other reader of the old index (a merged-away profile's exits, privacy requests) filters on
`profile_id` alone, which the new index serves as well.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("segment_memberships_profile", "segment_memberships")
    op.create_index("segment_memberships_profile", "segment_memberships", ["profile_id", "slug"])


def downgrade() -> None:
    op.drop_index("segment_memberships_profile", "segment_memberships")
    op.create_index("segment_memberships_profile", "segment_memberships", ["profile_id"])
