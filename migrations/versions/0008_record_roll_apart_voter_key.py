"""the record and the roll share nothing but the cycle; one ballot per resident whatever the key;
nothing stored links an account to its choices

- the ballot loses its channel and worker (the roll entry keeps the worker of the latest ballot);
  every chain is hashed again in the record's format v2, which no longer has them;
- the chain head names the key of its cycle's voter codes (`voter_key`) and every ballot carries
  it under a composite foreign key, so a host with another key cannot add a ballot;
- idempotent answers are keyed by a hash, carry no account and expire (the old ones are dropped:
  they only lived for a retry);
- an accepted paper entry no longer names its resident.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 22:00:00

"""
import hashlib
import hmac

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _hmac_hex(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _format_v2(seq, voter_code, version, choices, cast_at, receipt) -> str:
    """The canonical row of format v2 as it is at this revision (voting/ballots/chain.py)."""
    return "|".join(("v2", str(seq), voter_code, str(version), choices,
                     cast_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), receipt))


def upgrade():
    bind = op.get_bind()
    key = current_app.config["SECRET_KEY"]  # the key the existing voter codes come from
    fingerprint = _hmac_hex(key, "voting:voter-key")[:16]
    tables = sa.MetaData()
    ballot = sa.Table("ballot", tables, autoload_with=bind)
    choice = sa.Table("ballot_choice", tables, autoload_with=bind)
    roll = sa.Table("roll_entry", tables, autoload_with=bind)
    chain = sa.Table("ballot_chain", tables, autoload_with=bind)
    result = sa.Table("cycle_result", tables, autoload_with=bind)

    # The roll entry keeps who entered the latest ballot (the key links them: here, and only here).
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_roll_entry_worker_id_user_account'), 'user_account',
                                    ['worker_id'], ['id'])
    offline = bind.execute(sa.select(roll.c.id, roll.c.cycle_id, roll.c.resident_id)
                           .where(roll.c.channel.in_(("assisted", "paper")))).all()
    for roll_id, cycle_id, resident_id in offline:
        code = _hmac_hex(key, f"voter:{cycle_id}:{resident_id}")[:24]
        worker = bind.scalar(sa.select(ballot.c.worker_id).where(
            ballot.c.cycle_id == cycle_id, ballot.c.voter_code == code, ballot.c.is_current))
        bind.execute(sa.update(roll).where(roll.c.id == roll_id).values(worker_id=worker))
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_roll_entry_worker_for_offline'),
                                         "(COALESCE(channel, 'online') <> 'online') = (worker_id IS NOT NULL)")

    # Every chain again, in format v2.
    for (cycle_id,) in bind.execute(sa.select(chain.c.cycle_id)).all():
        head, seq = _sha256_hex(f"voting:cycle:{cycle_id}"), 0
        rows = bind.execute(sa.select(ballot.c.id, ballot.c.seq, ballot.c.voter_code, ballot.c.version,
                                      ballot.c.cast_at, ballot.c.receipt)
                            .where(ballot.c.cycle_id == cycle_id).order_by(ballot.c.seq)).all()
        for ballot_id, seq, code, version, cast_at, receipt in rows:
            pairs = bind.execute(sa.select(choice.c.project_id, choice.c.points)
                                 .where(choice.c.ballot_id == ballot_id).order_by(choice.c.project_id)).all()
            row = _format_v2(seq, code, version, ",".join(f"{p}:{n}" for p, n in pairs), cast_at, receipt)
            head = _sha256_hex(head + "\n" + row)
            bind.execute(sa.update(ballot).where(ballot.c.id == ballot_id).values(chain_hash=head))
        bind.execute(sa.update(chain).where(chain.c.cycle_id == cycle_id).values(head_hash=head))
        bind.execute(sa.update(result).where(result.c.cycle_id == cycle_id, result.c.chain_seq == seq)
                     .values(chain_head=head))

    with op.batch_alter_table('ballot_chain', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voter_key', sa.String(length=16), nullable=True))
    bind.execute(sa.text("UPDATE ballot_chain SET voter_key = :key"), {"key": fingerprint})
    with op.batch_alter_table('ballot_chain', schema=None) as batch_op:
        batch_op.alter_column('voter_key', existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint('uq_ballot_chain_key', ['cycle_id', 'voter_key'])

    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voter_key', sa.String(length=16), nullable=True))
    bind.execute(sa.text("UPDATE ballot SET voter_key = :key"), {"key": fingerprint})
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.alter_column('voter_key', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_constraint(batch_op.f('ck_ballot_worker_for_offline'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_ballot_channel'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_ballot_worker_id_user_account'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_ballot_cycle_id_cycle'), type_='foreignkey')
        batch_op.drop_column('worker_id')
        batch_op.drop_column('channel')
        batch_op.create_foreign_key('fk_ballot_chain_key', 'ballot_chain', ['cycle_id', 'voter_key'],
                                    ['cycle_id', 'voter_key'])

    op.drop_table('idempotent_answer')
    op.create_table(
        'idempotent_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('cycle_id', sa.Integer(), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], name=op.f('fk_idempotent_answer_cycle_id_cycle')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_answer')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_idempotent_answer_key_hash')),
    )
    with op.batch_alter_table('idempotent_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotent_answer_cycle_id'), ['cycle_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_idempotent_answer_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.alter_column('resident_id', existing_type=sa.Integer(), nullable=True)
    bind.execute(sa.text("UPDATE paper_entry SET resident_id = NULL WHERE status = 'accepted'"))
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_paper_entry_resident_until_accepted'),
                                         "(status = 'accepted') = (resident_id IS NULL)")


def downgrade():
    """Back to the schema of 0007. The chains stay in format v2 and the workers of ballots are
    not restored (the record no longer has them): a downgrade keeps the data, not its old form."""
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_paper_entry_resident_until_accepted'), type_='check')
    op.execute("DELETE FROM paper_entry WHERE resident_id IS NULL")
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.alter_column('resident_id', existing_type=sa.Integer(), nullable=False)

    op.drop_table('idempotent_answer')
    op.create_table(
        'idempotent_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_idempotent_answer_user_id_user_account'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_answer')),
        sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotent_answer_user_id_key')),
    )

    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ballot_chain_key', type_='foreignkey')
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=False, server_default='online'))
        batch_op.add_column(sa.Column('worker_id', sa.Integer(), nullable=True))
        batch_op.drop_column('voter_key')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.alter_column('channel', existing_type=sa.String(length=16), server_default=None)
        batch_op.create_foreign_key(batch_op.f('fk_ballot_cycle_id_cycle'), 'cycle', ['cycle_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_ballot_worker_id_user_account'), 'user_account',
                                    ['worker_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_ballot_channel'),
                                         "channel IN ('online', 'assisted', 'paper')")
        batch_op.create_check_constraint(batch_op.f('ck_ballot_worker_for_offline'),
                                         "(channel = 'online') = (worker_id IS NULL)")

    with op.batch_alter_table('ballot_chain', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ballot_chain_key', type_='unique')
        batch_op.drop_column('voter_key')

    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_roll_entry_worker_for_offline'), type_='check')
    op.execute("UPDATE roll_entry SET channel = 'online' WHERE channel IS NOT NULL")
    with op.batch_alter_table('roll_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_roll_entry_worker_id_user_account'), type_='foreignkey')
        batch_op.drop_column('worker_id')
