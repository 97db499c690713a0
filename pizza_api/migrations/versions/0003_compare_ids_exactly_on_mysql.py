"""compare client ids and idempotency keys exactly on MySQL and MariaDB

Their default collations match values that differ in case, accents or trailing
spaces, so "KEY-A" found the row of "key-a". SQLite and PostgreSQL already compare
exactly; this revision changes nothing there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (("oauth_clients", "id"), ("idempotency_keys", "client_id"), ("idempotency_keys", "key"))


def _alter(collation: str | None) -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, column in COLUMNS:
        new_type = (
            mysql.VARCHAR(255, charset="utf8mb4", collation=collation)
            if collation
            else sa.String(255)
        )
        op.alter_column(table, column, existing_type=sa.String(255), type_=new_type, nullable=False)


def upgrade() -> None:
    _alter("utf8mb4_bin")


def downgrade() -> None:
    _alter(None)
