"""The published result of a vote."""
