"""The yearly cycle: phases, voting rules, the fund."""
