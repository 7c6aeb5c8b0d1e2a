"""The yearly cycle: phases, voting rules, the fund; its public page and the staff dashboard."""
