"""Paper and live sessions at run time: the runner, its journal and replay, state, reconciliation,
recovery, warm-up, safety (kill flag, account lock) and latency timing."""
