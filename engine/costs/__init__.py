"""What trading costs: fee models (in the currency the venue charges) and slippage models."""
