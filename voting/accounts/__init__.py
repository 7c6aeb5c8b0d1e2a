"""Sign-in and accounts."""
