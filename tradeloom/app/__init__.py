"""Composition roots: validated settings in, wired objects out (backtest, paper/live session,
regress, deployment). Only this layer knows every other layer."""
