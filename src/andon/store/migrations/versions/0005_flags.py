"""Create the tables of feature flags: flag sets, their history, client tokens, exposures,
conversions and SDK clients.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _scope() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=63), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "flag_sets",
        *_scope(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("guards", sa.JSON(), nullable=False),
        sa.Column("experiments", sa.JSON(), nullable=False),
        sa.Column("declared", sa.JSON(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("held", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_sets")),
        sa.UniqueConstraint(
            "project", "environment", name=op.f("uq_flag_sets_project_environment")
        ),
    )
    op.create_table(
        "flag_history",
        *_scope(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_history")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_flag_history_project_environment_id"),
        "flag_history",
        ["project", "environment", "id"],
    )
    op.create_table(
        "flag_tokens",
        *_scope(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_flag_tokens_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_flag_tokens_project_environment"), "flag_tokens", ["project", "environment"]
    )
    op.create_table(
        "flag_exposures",
        *_scope(),
        sa.Column("flag", sa.Text(), nullable=False),
        sa.Column("variant", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_exposures")),
        sa.UniqueConstraint(
            "project",
            "environment",
            "flag",
            "unit",
            name=op.f("uq_flag_exposures_project_environment_flag_unit"),
        ),
    )
    op.create_table(
        "flag_conversions",
        *_scope(),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_conversions")),
        sa.UniqueConstraint(
            "project",
            "environment",
            "event",
            "unit",
            name=op.f("uq_flag_conversions_project_environment_event_unit"),
        ),
    )
    op.create_table(
        "flag_clients",
        *_scope(),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("applied", sa.Integer(), nullable=True),
        sa.Column("tripped", sa.JSON(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_clients")),
        sa.UniqueConstraint(
            "project",
            "environment",
            "client",
            name=op.f("uq_flag_clients_project_environment_client"),
        ),
    )


def downgrade() -> None:
    op.drop_table("flag_clients")
    op.drop_table("flag_conversions")
    op.drop_table("flag_exposures")
    op.drop_index(op.f("ix_flag_tokens_project_environment"), table_name="flag_tokens")
    op.drop_table("flag_tokens")
    op.drop_index(op.f("ix_flag_history_project_environment_id"), table_name="flag_history")
    op.drop_table("flag_history")
    op.drop_table("flag_sets")
