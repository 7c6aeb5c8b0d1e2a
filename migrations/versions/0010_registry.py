"""the registry kept current: who may vote, and the electorate fixed at opening

- a resident may be `deceased`; `facts_since` says since when their community, status and
  household are as they are, `resident_history` keeps each earlier version with its period;
- `adult_on`: the day a resident registered under 18 turns 18 (nothing for those of age);
- `household`: a keyed hash of the community and the normalised address;
- a cycle's `voters` rule (`adults` or `households`), and the roll entry's household key, unique
  per cycle where it is set (one vote per household, by the database).

Existing residents: `facts_since` is their registration, `adult_on` stays unknown (of age) until
the registry is imported again, the household is hashed from the address with the current key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00

"""
import hashlib
import hmac
import re
import unicodedata

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _household(key: str, community_id: int, address: str) -> str:
    """`voting.residents.services.household_key` as it is at this revision."""
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", address or "")).casefold()
    keyed = hmac.new(key.encode(), b"resident-household", hashlib.sha256).digest()
    return hmac.new(keyed, f"{community_id}:{normal}".encode(), hashlib.sha256).hexdigest()[:32]


def upgrade():
    bind = op.get_bind()
    key = current_app.config["SECRET_KEY"]
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('adult_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('facts_since', sa.DateTime(), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_resident_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_resident_status'),
                                         "status IN ('active', 'moved', 'deceased')")
    resident = sa.table('resident', sa.column('id', sa.Integer), sa.column('community_id', sa.Integer),
                        sa.column('address', sa.String), sa.column('household', sa.String))
    for resident_id, community_id, address in bind.execute(
            sa.select(resident.c.id, resident.c.community_id, resident.c.address)).all():
        bind.execute(sa.update(resident).where(resident.c.id == resident_id)
                     .values(household=_household(key, community_id, address)))
    op.execute("UPDATE resident SET facts_since = created_at")
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.alter_column('household', existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column('facts_since', existing_type=sa.DateTime(), nullable=False)

    op.create_table(
        'resident_history',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('resident_id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('household', sa.String(length=32), nullable=False),
        sa.Column('valid_from', sa.DateTime(), nullable=False),
        sa.Column('valid_until', sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'moved', 'deceased')", name=op.f('ck_resident_history_status')),
        sa.CheckConstraint('valid_from <= valid_until', name=op.f('ck_resident_history_period')),
        sa.ForeignKeyConstraint(['community_id'], ['community.id'],
                                name=op.f('fk_resident_history_community_id_community')),
        sa.ForeignKeyConstraint(['resident_id'], ['resident.id'],
                                name=op.f('fk_resident_history_resident_id_resident')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resident_history')),
    )
    with op.batch_alter_table('resident_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resident_history_resident_id'), ['resident_id'], unique=False)

    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voters', sa.String(length=16), nullable=False, server_default='adults'))
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.alter_column('voters', existing_type=sa.String(length=16), server_default=None)
        batch_op.create_check_constraint(batch_op.f('ck_cycle_voters'), "voters IN ('adults', 'households')")

    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household', sa.String(length=32), nullable=True))
        batch_op.create_index('uq_roll_entry_household', ['cycle_id', 'household'], unique=True,
                              sqlite_where=sa.text('household IS NOT NULL'),
                              postgresql_where=sa.text('household IS NOT NULL'))


def downgrade():
    """Back to 0008: the history, the ages and the household keys are dropped; a deceased resident
    becomes moved (0008 knows no other way to leave)."""
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.drop_index('uq_roll_entry_household', sqlite_where=sa.text('household IS NOT NULL'),
                            postgresql_where=sa.text('household IS NOT NULL'))
        batch_op.drop_column('household')
    with op.batch_alter_table('cycle', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_cycle_voters'), type_='check')
        batch_op.drop_column('voters')
    with op.batch_alter_table('resident_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resident_history_resident_id'))
    op.drop_table('resident_history')
    op.execute("UPDATE resident SET status = 'moved' WHERE status = 'deceased'")
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_resident_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_resident_status'), "status IN ('active', 'moved')")
        batch_op.drop_column('facts_since')
        batch_op.drop_column('adult_on')
        batch_op.drop_column('household')
