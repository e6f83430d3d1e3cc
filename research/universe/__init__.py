"""Which symbols to trade and how: universe tiers, market regimes, and the live universe gate."""
