"""Pure counting for participatory budgets: elections, pabulib files, outcome rules and reasons.

This package imports neither Flask nor SQLAlchemy; the app builds an :class:`Election` from its
rows and calls :func:`tally`. Typical use::

    from voting.tally import Election, Project, tally

    election = Election.from_values(
        [Project(1, 5_000_000, "路灯"), Project(2, 3_500_000, "健身器材")],
        budget=20_000_000,                      # exact: int fen (or Decimal / Fraction)
        ballots=[[1, 2], [2], [1]],
        vote_type="approval",
    )
    result = tally(election, "greedy")          # or "mes", "mes+greedy", ...
    result.selected                             # funded ids, in order of selection
    result.projects[0].reason_code              # "funded", "not_fit", ...

To export ballots as pabulib: ``write_pb(election, stream)``; to read: ``read_pb(path)``.
"""
from .amounts import Amount, format_amount
from .election import Election, ElectionError, Project, ProjectId
from .pabulib import PabulibError, parse_pb, read_pb, write_pb
from .rules import (
    RULES,
    TIE_BREAK,
    ProjectOutcome,
    RuleError,
    TallyResult,
    pabulib_rule_name,
    resolve_rule,
    tally,
)

_FROM_MES = ("MesOutcome", "equal_shares")


def __getattr__(name: str) -> object:
    """``MesOutcome`` and ``equal_shares``, loaded on first use (PEP 562)."""
    if name in _FROM_MES:
        # here, on first use: voting.tally.mes loads numpy, which greedy counts do not need, so
        # `import voting.tally` (and `voting tally` on a greedy file) starts without it
        from . import mes

        return getattr(mes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Amount",
    "Election",
    "ElectionError",
    "MesOutcome",
    "PabulibError",
    "Project",
    "ProjectId",
    "ProjectOutcome",
    "RULES",
    "RuleError",
    "TIE_BREAK",
    "TallyResult",
    "equal_shares",
    "format_amount",
    "pabulib_rule_name",
    "parse_pb",
    "read_pb",
    "resolve_rule",
    "tally",
    "write_pb",
]
