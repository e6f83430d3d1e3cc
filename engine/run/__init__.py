"""Running a strategy: the one step function (``loop``), event kinds and their order,
bar feeds, order entry, and the backtest driver that wires them."""
