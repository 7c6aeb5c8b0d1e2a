"""drop the ballot's and the roll entry's cycle_id indexes: their unique constraints lead with
cycle_id and serve the same lookups; every cast wrote one index more than it needed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:05:00

"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballot_cycle_id'))
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roll_entry_cycle_id'))


def downgrade():
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roll_entry_cycle_id'), ['cycle_id'], unique=False)
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballot_cycle_id'), ['cycle_id'], unique=False)
