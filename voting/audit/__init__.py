"""Audit: the action log, ballot records, verification."""
