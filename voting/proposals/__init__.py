"""Proposals and projects: the proposal form, "my proposals", a proposal's page and its photos."""
