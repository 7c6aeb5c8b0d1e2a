"""closing the year: a project not accepted is carried over into a later cycle or ended with a reason

- `carry_over`: a funded project carried from one cycle of its community into a later one (its
  work goes on there; its remaining money stays committed out of its own year's fund);
- `project_ending`: a funded project ended before acceptance, with its public reason.

Nothing to fill in: cycles already closed keep their projects as they were.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'carry_over',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('from_cycle_id', sa.Integer(), nullable=False),
        sa.Column('into_cycle_id', sa.Integer(), nullable=False),
        sa.Column('carried_by_id', sa.Integer(), nullable=True),
        sa.Column('carried_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('from_cycle_id <> into_cycle_id', name=op.f('ck_carry_over_another_cycle')),
        sa.ForeignKeyConstraint(['carried_by_id'], ['user_account.id'],
                                name=op.f('fk_carry_over_carried_by_id_user_account')),
        sa.ForeignKeyConstraint(['from_cycle_id'], ['cycle.id'], name=op.f('fk_carry_over_from_cycle_id_cycle')),
        sa.ForeignKeyConstraint(['into_cycle_id'], ['cycle.id'], name=op.f('fk_carry_over_into_cycle_id_cycle')),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_carry_over_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_carry_over')),
        sa.UniqueConstraint('project_id', 'into_cycle_id', name=op.f('uq_carry_over_project_id_into_cycle_id')),
    )
    with op.batch_alter_table('carry_over', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carry_over_into_cycle_id'), ['into_cycle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_carry_over_project_id'), ['project_id'], unique=False)

    op.create_table(
        'project_ending',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('cycle_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('ended_by_id', sa.Integer(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('length(reason) > 0', name=op.f('ck_project_ending_reason_present')),
        sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_project_ending_cycle_id_cycle')),
        sa.ForeignKeyConstraint(['ended_by_id'], ['user_account.id'],
                                name=op.f('fk_project_ending_ended_by_id_user_account')),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_ending_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_project_ending')),
        sa.UniqueConstraint('project_id', name=op.f('uq_project_ending_project_id')),
    )
    with op.batch_alter_table('project_ending', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_ending_cycle_id'), ['cycle_id'], unique=False)


def downgrade():
    with op.batch_alter_table('project_ending', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_ending_cycle_id'))
    op.drop_table('project_ending')
    with op.batch_alter_table('carry_over', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_carry_over_project_id'))
        batch_op.drop_index(batch_op.f('ix_carry_over_into_cycle_id'))
    op.drop_table('carry_over')
