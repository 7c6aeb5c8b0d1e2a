"""Import every feature's models so that Alembic and the app see the whole schema."""
from .accounts.models import ApiToken, User  # noqa: F401
from .audit.models import ActionLogEntry, ActionLogHead  # noqa: F401
from .ballots.models import (  # noqa: F401
    Ballot, BallotChain, BallotChoice, IdempotentAnswer, PaperBatch, PaperEntry, RollEntry,
)
from .cycles.models import Cycle  # noqa: F401
from .limiter_storage import rate_limit  # noqa: F401  (and the `database+` storage of the rate limits)
from .geography.models import Community, Grid, SubDistrict  # noqa: F401
from .proposals.models import Project, ProjectPhoto  # noqa: F401
from .residents.models import Resident  # noqa: F401
from .storage import StoredFile  # noqa: F401
from .results.models import CycleResult, Objection  # noqa: F401
from .tracking.models import (  # noqa: F401
    Acceptance, FundApproval, Milestone, MilestonePhoto, ProgressChange, ProjectRating, SpendingEntry,
)
