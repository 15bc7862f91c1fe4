"""Keep when each commit a deploy carries landed on trunk, for DORA's change lead time:
``deploy_events.commit_times`` (sha → committer time, ISO 8601), ``{}`` on older events.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-05 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The default fills the rows recorded before: their lead times are unknown, not zero.
    op.add_column(
        "deploy_events",
        sa.Column("commit_times", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )


def downgrade() -> None:
    # A batch rebuilds the table on SQLite versions that cannot drop a column.
    with op.batch_alter_table("deploy_events") as batch:
        batch.drop_column("commit_times")
