"""guards on outcomes: a threshold as a share of voters, a minimum turnout

- `cycle.threshold_percent`: greedy-threshold may ask for a share of the voters (1–100 %)
  instead of an absolute number of votes (`threshold`); never both;
- `cycle.min_turnout_percent`: an optional minimum turnout (1–100 %); below it the count funds
  nothing and the result says so.

Existing cycles keep their rules: both are empty.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 01:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('threshold_percent', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('min_turnout_percent', sa.Integer(), nullable=True))
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f('ck_cycle_threshold_percent'),
            "threshold_percent IS NULL OR (threshold_percent BETWEEN 1 AND 100 AND threshold IS NULL)")
        batch_op.create_check_constraint(
            batch_op.f('ck_cycle_min_turnout_percent'),
            "min_turnout_percent IS NULL OR min_turnout_percent BETWEEN 1 AND 100")


def downgrade():
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_cycle_min_turnout_percent'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_cycle_threshold_percent'), type_='check')
        batch_op.drop_column('min_turnout_percent')
        batch_op.drop_column('threshold_percent')
