"""Milestone photos go through the same pipeline as proposal photos (`voting.proposals.photos`):
recognised by their content, size-limited, re-encoded as JPEG without metadata, stored under
`instance/uploads/` with a random name, and removed again if the transaction does not commit."""
from ..proposals.photos import MAX_BYTES, photo_path, process_photo, store_photo  # noqa: F401

MAX_PHOTOS = 6  # per milestone
