"""the public notice (公示): a cycle's notice period and residents' objections with staff's answers

- `cycle.notice_days`: how long the result stands for objections before implementation may start
  (7 by default, 5 to 30; existing cycles get 7);
- `objection`: a resident's objection to a published result and the staff's public answer.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_days', sa.Integer(), nullable=False, server_default='7'))
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.alter_column('notice_days', existing_type=sa.Integer(), server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_cycle_notice_days'), 'notice_days BETWEEN 5 AND 30')

    op.create_table(
        'objection',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cycle_id', sa.Integer(), nullable=False),
        sa.Column('filed_by_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('answered_at', sa.DateTime(), nullable=True),
        sa.Column('answered_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('(answer IS NULL) = (answered_at IS NULL) AND (answer IS NULL) = (answered_by_id IS NULL)',
                           name=op.f('ck_objection_answered')),
        sa.ForeignKeyConstraint(['answered_by_id'], ['user_account.id'],
                                name=op.f('fk_objection_answered_by_id_user_account')),
        sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_objection_cycle_id_cycle')),
        sa.ForeignKeyConstraint(['filed_by_id'], ['user_account.id'],
                                name=op.f('fk_objection_filed_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_objection')),
    )
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objection_cycle_id'), ['cycle_id'], unique=False)


def downgrade():
    """Back to 0010: the objections and the notice period are dropped."""
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objection_cycle_id'))
    op.drop_table('objection')
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_cycle_notice_days'), type_='check')
        batch_op.drop_column('notice_days')
