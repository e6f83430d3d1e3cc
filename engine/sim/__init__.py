"""The simulated exchange: order acceptance, matching against bars and ticks, brackets and OCO."""
