"""spending within what residents chose: approvals per project, corrections by reversal

- `fund_approval.project_id`: an approval beyond one funded project's voted cost (none: beyond
  the year's fund, as before);
- `spending_entry.reverses_id`: a reversal cancels the payment it names, once (unique); its amount
  is negative and its note (the reason) is required: the CHECK `amount_sign` replaces
  `amount_positive`.

Existing rows: every approval stays an approval for the year, every entry a payment. A downgrade
keeps the approvals (for their year) and drops the reversals (the old schema has no negative amount).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 01:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SIGN = ("(reverses_id IS NULL AND amount_fen > 0) OR "
        "(reverses_id IS NOT NULL AND amount_fen < 0 AND length(note) > 0)")


def upgrade():
    with op.batch_alter_table('fund_approval', schema=None) as batch_op:
        batch_op.add_column(sa.Column('project_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_fund_approval_project_id'), ['project_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_fund_approval_project_id_project'), 'project',
                                    ['project_id'], ['id'])
    with op.batch_alter_table('spending_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reverses_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_spending_entry_reverses_id'), ['reverses_id'])
        batch_op.create_foreign_key(batch_op.f('fk_spending_entry_reverses_id_spending_entry'),
                                    'spending_entry', ['reverses_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_spending_entry_amount_positive'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_spending_entry_amount_sign'), SIGN)


def downgrade():
    # Reversals cannot be kept under the old rule (amounts above zero): a downgrade drops them.
    op.execute("DELETE FROM spending_entry WHERE reverses_id IS NOT NULL")
    with op.batch_alter_table('spending_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_spending_entry_amount_sign'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_spending_entry_amount_positive'), 'amount_fen > 0')
        batch_op.drop_constraint(batch_op.f('fk_spending_entry_reverses_id_spending_entry'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_spending_entry_reverses_id'), type_='unique')
        batch_op.drop_column('reverses_id')
    # An approval for one project stays, as an approval for its year (the money stays approved).
    with op.batch_alter_table('fund_approval', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_fund_approval_project_id_project'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_fund_approval_project_id'))
        batch_op.drop_column('project_id')
