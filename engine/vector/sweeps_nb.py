"""Sweep kernels where each combination has its own sizing and protective orders.

``kernels_nb.sweep_signals_nb`` runs many entry/exit arrays with one ``size`` and one
set of stops; a strategy's vectorized form (``form.Signals``) may set them from its
params (a swept ``stop_pct``), so this kernel takes them per combination. Each run is
exactly ``kernels_nb.simulate_nb`` (the event engine's ``api.SignalStrategy``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tradeloom.engine.vector.kernels_nb import N_ACC, simulate_nb


@njit(cache=True, parallel=True)
def sweep_signal_forms_nb(open_, high, low, close, volume, ts, tf_ms, entries, exits, init_cash,
                          frac, spec, sl_pct, tp_pct, trail_pct, rule):
    """``entries``/``exits`` ``(n_combos, n_bars)``; ``frac``, ``sl_pct``, ``tp_pct``,
    ``trail_pct`` one value per combination (<= 0: none). Returns ``(n_combos, N_ACC)``."""
    m = entries.shape[0]
    acc = np.empty((m, N_ACC))
    empty = np.empty(0)
    for j in prange(m):
        simulate_nb(open_, high, low, close, volume, ts, tf_ms, 0, entries[j], exits[j], empty,
                    empty, init_cash, frac[j], spec, sl_pct[j], tp_pct[j], trail_pct[j], rule,
                    False, 0, empty, empty, empty, empty, acc[j])
    return acc
