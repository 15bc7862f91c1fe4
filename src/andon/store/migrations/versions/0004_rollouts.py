"""Create the tables of rollouts: rollouts, with the deploy lock, and deploy events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-15 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The statuses that hold an environment's deploy lock, spelled alike on both backends.
IN_PROGRESS = "status IN ('running', 'paused')"


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("from_version", sa.Text(), nullable=True),
        sa.Column("from_artifact", sa.Text(), nullable=True),
        sa.Column("to_version", sa.Text(), nullable=False),
        sa.Column("to_artifact", sa.Text(), nullable=False),
        sa.Column("commits", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_rollouts_project_environment_id"),
        "rollouts",
        ["project", "environment", "id"],
    )
    op.create_index(
        op.f("ix_rollouts_deploy_lock"),
        "rollouts",
        ["project", "environment"],
        unique=True,
        sqlite_where=sa.text(IN_PROGRESS),
        postgresql_where=sa.text(IN_PROGRESS),
    )

    op.create_table(
        "deploy_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("artifact", sa.Text(), nullable=False),
        sa.Column("commits", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploy_events")),
    )
    op.create_index(op.f("ix_deploy_events_project_at"), "deploy_events", ["project", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deploy_events_project_at"), table_name="deploy_events")
    op.drop_table("deploy_events")
    op.drop_index(op.f("ix_rollouts_deploy_lock"), table_name="rollouts")
    op.drop_index(op.f("ix_rollouts_project_environment_id"), table_name="rollouts")
    op.drop_table("rollouts")
