"""The resident registry."""
