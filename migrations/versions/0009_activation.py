"""residents activate their own account: a code's lookup tag, the used code, the ID number's last six

- `resident.voting_code_tag`: a short keyed tag of the personal voting code (HMAC, 4 hex digits,
  shared by many residents), indexed, to find a code's few candidates without a slow hash each;
- `resident.used_code_hash`: the hash of the code that activated the account (it works nowhere
  any more; only a retry is recognised as already activated);
- `resident.id_last6_hash`: a salted keyed hash of the ID number's last six characters.

All nullable: residents registered before this revision have no ID digits (the registry never kept
the ID number), so they activate once re-imported; codes issued before it have no tag, so they are
issued again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voting_code_tag', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('used_code_hash', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('id_last6_hash', sa.String(length=128), nullable=True))
        batch_op.create_index(batch_op.f('ix_resident_voting_code_tag'), ['voting_code_tag'], unique=False)


def downgrade():
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resident_voting_code_tag'))
        batch_op.drop_column('id_last6_hash')
        batch_op.drop_column('used_code_hash')
        batch_op.drop_column('voting_code_tag')
