"""ballots: hash chain, idempotency, paper batches, voting codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:18:13.828305

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ballot_chain',
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('last_seq >= 0', name=op.f('ck_ballot_chain_last_seq')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_ballot_chain_cycle_id_cycle')),
    sa.PrimaryKeyConstraint('cycle_id', name=op.f('pk_ballot_chain'))
    )
    op.create_table('idempotent_answer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_idempotent_answer_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_answer')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotent_answer_user_id_key'))
    )
    op.create_table('paper_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('round1_by_id', sa.Integer(), nullable=False),
    sa.Column('round2_by_id', sa.Integer(), nullable=True),
    sa.Column('round1_done_at', sa.DateTime(), nullable=True),
    sa.Column('round2_done_at', sa.DateTime(), nullable=True),
    sa.Column('reconciled_at', sa.DateTime(), nullable=True),
    sa.Column('accepted_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('round1_by_id <> round2_by_id', name=op.f('ck_paper_batch_two_people')),
    sa.CheckConstraint('round1_done_at IS NULL OR round1_by_id IS NOT NULL', name=op.f('ck_paper_batch_round1_done_by')),
    sa.CheckConstraint('round2_done_at IS NULL OR round2_by_id IS NOT NULL', name=op.f('ck_paper_batch_round2_done_by')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_paper_batch_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_paper_batch_cycle_id_cycle')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_paper_batch_grid_id_grid')),
    sa.ForeignKeyConstraint(['round1_by_id'], ['user_account.id'], name=op.f('fk_paper_batch_round1_by_id_user_account')),
    sa.ForeignKeyConstraint(['round2_by_id'], ['user_account.id'], name=op.f('fk_paper_batch_round2_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_batch'))
    )
    with op.batch_alter_table('paper_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_batch_cycle_id'), ['cycle_id'], unique=False)

    op.create_table('paper_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('choices', sa.String(length=2000), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('problem', sa.String(length=40), nullable=True),
    sa.Column('entered_by_id', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(status = 'accepted') = (choices IS NULL)", name=op.f('ck_paper_entry_choices_until_accepted')),
    sa.CheckConstraint("(status = 'disputed') = (problem IS NOT NULL)", name=op.f('ck_paper_entry_problem_when_disputed')),
    sa.CheckConstraint("status IN ('pending', 'disputed', 'accepted')", name=op.f('ck_paper_entry_status')),
    sa.CheckConstraint('round IN (1, 2)', name=op.f('ck_paper_entry_round')),
    sa.ForeignKeyConstraint(['batch_id'], ['paper_batch.id'], name=op.f('fk_paper_entry_batch_id_paper_batch'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entered_by_id'], ['user_account.id'], name=op.f('fk_paper_entry_entered_by_id_user_account')),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_paper_entry_resident_id_resident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_entry')),
    sa.UniqueConstraint('batch_id', 'round', 'resident_id', name=op.f('uq_paper_entry_batch_id_round_resident_id'))
    )
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_entry_batch_id'), ['batch_id'], unique=False)

    # No ballot can exist before this revision (casting arrives with it), so the chain columns
    # are added NOT NULL without a default.
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column('chain_hash', sa.String(length=64), nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_ballot_cycle_id_seq'), ['cycle_id', 'seq'])
        batch_op.create_check_constraint(batch_op.f('ck_ballot_seq'), 'seq >= 1')

    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voting_code_hash', sa.String(length=256), nullable=True))



def downgrade():
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_column('voting_code_hash')

    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_ballot_seq'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_ballot_cycle_id_seq'), type_='unique')
        batch_op.drop_column('chain_hash')
        batch_op.drop_column('seq')

    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_entry_batch_id'))

    op.drop_table('paper_entry')
    with op.batch_alter_table('paper_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_batch_cycle_id'))

    op.drop_table('paper_batch')
    op.drop_table('idempotent_answer')
    op.drop_table('ballot_chain')
