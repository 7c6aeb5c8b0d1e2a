"""stored photos: uploaded files kept in the database (or named there, when an object store holds them)

- `stored_file`: one uploaded file: its name, content type, size, SHA-256 and, unless an object
  store holds them, its bytes.

Photos that earlier releases saved in a host's upload folder are brought in by
`voting photos import`, run on each host that kept some (docs/deploy.md, "Upgrades"): a migration
runs on one host only and could not see the others' folders.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 04:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stored_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('size >= 0', name=op.f('ck_stored_file_size_not_negative')),
        sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_stored_file_sha256_hex')),
        sa.CheckConstraint('data IS NULL OR length(data) = size', name=op.f('ck_stored_file_data_is_whole')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_file')),
        sa.UniqueConstraint('name', name=op.f('uq_stored_file_name')),
    )


def downgrade():
    op.drop_table('stored_file')
