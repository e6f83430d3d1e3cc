"""Rule strategies: strategies written as data (TOML/JSON) instead of Python classes.

``schema`` (the file format, validated with field paths), ``conditions`` (what a
condition means; batch and streaming evaluation), ``compile`` (a rule set in the two
engines), ``strategy`` (``RuleStrategy``, the event form with a vectorized form),
``document`` (the canonical document, its numeric fields, TOML text) and ``files``
(read, write, turn into a strategy class). ``tradeloom.research.strategy_loader``
accepts a rule file wherever it accepts ``file.py:Class``.
"""
