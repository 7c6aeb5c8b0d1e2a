"""Proposals and projects."""
