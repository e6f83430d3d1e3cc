"""Accounting: cash, positions, fees and PnL of one account."""
