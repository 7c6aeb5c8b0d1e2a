"""sign-in limits: rate-limit counters in the database (Flask-Limiter's storage without Redis)

- `rate_limit`: one fixed-window counter per key (`voting/limiter_storage.py`), expiring at
  `expires_at` (seconds since the epoch). PostgreSQL deployments count here; a SQLite deployment
  counts in a file of its own beside the database, so its copy of the table stays empty.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 03:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rate_limit',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit')),
    )
    op.create_index(op.f('ix_rate_limit_expires_at'), 'rate_limit', ['expires_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_rate_limit_expires_at'), table_name='rate_limit')
    op.drop_table('rate_limit')
