"""tracking: progress changes, milestones and photos, spending, fund approvals, acceptance, ratings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:15:05.097366

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fund_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=False),
    sa.Column('approved_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_fund_approval_amount_positive')),
    sa.CheckConstraint('length(reason) > 0', name=op.f('ck_fund_approval_reason_present')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['user_account.id'], name=op.f('fk_fund_approval_approved_by_id_user_account')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_fund_approval_cycle_id_cycle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_approval'))
    )
    with op.batch_alter_table('fund_approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fund_approval_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('progress_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('changed_by_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(from_status = 'funded' AND to_status = 'in_progress') OR (from_status = 'in_progress' AND to_status = 'completed') OR (from_status = 'completed' AND to_status = 'accepted')", name=op.f('ck_progress_change_forward_one_step')),
    sa.ForeignKeyConstraint(['changed_by_id'], ['user_account.id'], name=op.f('fk_progress_change_changed_by_id_user_account')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_progress_change_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_change')),
    sa.UniqueConstraint('project_id', 'to_status', name=op.f('uq_progress_change_project_id_to_status'))
    )
    with op.batch_alter_table('progress_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_change_project_id'), ['project_id'], unique=False)

    op.create_table('milestone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('length(text) > 0', name=op.f('ck_milestone_text_present')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_milestone_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_milestone_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone'))
    )
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestone_project_id'), ['project_id'], unique=False)

    op.create_table('milestone_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('width > 0 AND height > 0', name=op.f('ck_milestone_photo_size')),
    sa.ForeignKeyConstraint(['milestone_id'], ['milestone.id'], name=op.f('fk_milestone_photo_milestone_id_milestone'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_milestone_photo_uploaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone_photo')),
    sa.UniqueConstraint('filename', name=op.f('uq_milestone_photo_filename'))
    )
    with op.batch_alter_table('milestone_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestone_photo_milestone_id'), ['milestone_id'], unique=False)

    op.create_table('spending_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('spent_on', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('payee', sa.String(length=120), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('approval_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_spending_entry_amount_positive')),
    sa.CheckConstraint('length(payee) > 0', name=op.f('ck_spending_entry_payee_present')),
    sa.ForeignKeyConstraint(['approval_id'], ['fund_approval.id'], name=op.f('fk_spending_entry_approval_id_fund_approval')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_spending_entry_project_id_project')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_spending_entry_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spending_entry'))
    )
    with op.batch_alter_table('spending_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spending_entry_project_id'), ['project_id'], unique=False)

    op.create_table('acceptance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=False),
    sa.Column('panel', sa.String(length=300), nullable=False),
    sa.Column('remarks', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_acceptance_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'], name=op.f('fk_acceptance_recorded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_acceptance')),
    sa.UniqueConstraint('project_id', name=op.f('uq_acceptance_project_id'))
    )

    op.create_table('project_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_project_rating_score')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_rating_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_project_rating_resident_id_resident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_rating')),
    sa.UniqueConstraint('project_id', 'resident_id', name=op.f('uq_project_rating_project_id_resident_id'))
    )
    with op.batch_alter_table('project_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_rating_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_project_rating_resident_id'), ['resident_id'], unique=False)


def downgrade():
    op.drop_table('project_rating')
    op.drop_table('acceptance')
    op.drop_table('spending_entry')
    op.drop_table('milestone_photo')
    op.drop_table('milestone')
    op.drop_table('progress_change')
    op.drop_table('fund_approval')
