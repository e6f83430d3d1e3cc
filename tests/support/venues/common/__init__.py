"""Venue-neutral parts of the emulators: exact money, wallets, order books, real bars,
the loopback server and ccxt URL rewriting. Fee sides, filters, error codes and
message shapes are venue rules and live in the venue packages."""
