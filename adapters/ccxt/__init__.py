"""The ccxt edge: client factory and error mapping, the live broker and its sender, bar and
trade feeds, locally emulated contingent orders, and per-venue quirks (``venues``)."""
