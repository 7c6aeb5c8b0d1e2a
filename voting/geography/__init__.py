"""The district's places and their public pages."""
