"""Ballots: casting, revising, receipts; the voter roll kept apart."""
