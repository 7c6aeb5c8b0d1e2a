"""Getting out the vote: turnout per grid for staff, and for a grid worker the door-to-door list of
the residents of their own grid who have not voted yet. Who has voted, never how."""
