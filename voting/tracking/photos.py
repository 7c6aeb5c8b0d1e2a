"""Milestone photos go through the same pipeline as proposal photos (`voting.proposals.photos`):
recognised by their content, size-limited, re-encoded as JPEG without metadata, and stored where
every app host finds them (`voting/storage.py`) with the transaction that records the milestone."""
from ..proposals.photos import MAX_BYTES, load_photo, process_photo, store_photo  # noqa: F401

MAX_PHOTOS = 6  # per milestone
