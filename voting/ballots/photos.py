"""The photos a ballot page shows beside its projects (the files are the proposals feature's)."""
from __future__ import annotations

from sqlalchemy import select

from ..proposals.models import ProjectPhoto


def project_photo_files(session, project_ids: list[int]) -> list[tuple[int, str]]:
    """(project id, file name) of the projects' photos, in the order they were added."""
    if not project_ids:
        return []
    return [tuple(row) for row in session.execute(
        select(ProjectPhoto.project_id, ProjectPhoto.filename).where(ProjectPhoto.project_id.in_(project_ids))
        .order_by(ProjectPhoto.id))]
