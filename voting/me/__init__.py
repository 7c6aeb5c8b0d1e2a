"""Each signed-in person's own page ("我的"): where sign-in lands and the way to their work."""
