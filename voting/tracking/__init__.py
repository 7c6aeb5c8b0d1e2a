"""Following the money: implementation tracking, the fund ledger, the completed-projects archive."""
