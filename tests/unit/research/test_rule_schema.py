"""The rule-file schema: what it accepts, what it refuses (with field paths), what conditions mean."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest

from tradeloom.engine.errors import StrategyError
from tradeloom.research.rules.conditions import StreamNodes, batch_values, flatten
from tradeloom.research.rules.document import numeric_fields, to_document, to_toml, with_values
from tradeloom.research.rules.files import EXAMPLES, read_rule_file, rule_strategy_class
from tradeloom.research.rules.schema import RuleFileError, validate_rules

BASE = {
    "name": "t", "symbols": ["BTC/USDT"], "timeframe": "1h",
    "indicators": {"fast": {"kind": "sma", "period": 10}, "bands": {"kind": "bbands", "period": 20}},
    "entry": {"when": {"all": [{"left": "close", "op": ">", "right": "fast"},
                               {"left": "close", "op": "<", "right": "bands.upper"}]}},
    "exit": {"stop_loss": 0.02},
}


def problems(**changes) -> list[tuple[str, str]]:
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = doc
        parts = path.split("__")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    with pytest.raises(RuleFileError) as info:
        validate_rules(doc, "t.toml")
    return info.value.problems


DELETE = object()


class TestRefusals:
    def test_unknown_indicator_kind_suggests_the_close_one(self) -> None:
        assert problems(indicators__fast__kind="smaa") == [
            ("indicators.fast.kind", "unknown indicator 'smaa'; did you mean 'sma'? known: adx, atr, "
             "bbands, donchian, ema, keltner, macd, obv, realized_vol, rolling_max, rolling_min, rsi, "
             "session_vwap, sma, stoch, vwap, wma, zscore")]

    def test_unknown_indicator_parameter_suggests_the_close_one(self) -> None:
        [(path, msg)] = problems(indicators__fast={"kind": "sma", "perod": 10})
        assert path == "indicators.fast"
        assert msg.startswith("sma has no parameter 'perod'; did you mean 'period'?")

    def test_a_period_must_be_a_whole_number(self) -> None:
        [(path, msg)] = problems(indicators__fast__period=10.5)
        assert path == "indicators.fast" and "sma.period must be a whole number, got 10.5" in msg

    def test_an_operand_naming_nothing_points_at_its_field(self) -> None:
        assert problems(entry__when__all__1__right="band.upper") == [
            ("entry.when.all.1.right", "'band' is not an indicator of this file (fast, bands) nor a "
             "bar field (open, high, low, close, volume); did you mean 'bands'?")]

    def test_a_several_output_indicator_needs_its_output(self) -> None:
        [(path, msg)] = problems(entry__when__all__1__right="bands")
        assert path == "entry.when.all.1.right"
        assert msg == "bands (bbands) has outputs mid, upper, lower: write bands.mid"

    def test_short_is_refused_until_derivatives_exist(self) -> None:
        [(path, msg)] = problems(entry__side="short")
        assert path == "entry.side" and msg.startswith("short rules need derivatives")

    def test_take_profits_need_a_stop_loss_and_must_sum_to_one(self) -> None:
        ladder = [{"at": 0.02, "fraction": 0.5}, {"at": 0.05, "fraction": 0.4}]
        [(path, msg)] = problems(exit__take_profit=ladder)
        assert path == "exit" and msg.startswith("take_profit fractions sum to 0.9; they must sum to 1")
        [(path, msg)] = problems(exit={"take_profit": [{"at": 0.02, "fraction": 1.0}],
                                       "time_stop": 5})
        assert path == "exit" and msg.startswith("take_profit needs stop_loss")

    def test_an_exit_must_close_positions_somehow(self) -> None:
        [(path, msg)] = problems(exit={})
        assert path == "exit" and "otherwise a position is never closed" in msg

    def test_every_problem_is_reported_at_once(self) -> None:
        found = problems(timeframe="1hour", extra=1, exit__stop_loss=1.5,
                         entry__when__all__0__op="above")
        assert [p for p, _ in found] == ["timeframe", "entry.when.all.0.op", "exit.stop_loss",
                                         "extra"]
        assert found[3][1] == "unknown field; check the spelling against the rule-file schema"

    def test_a_condition_of_no_known_shape(self) -> None:
        [(path, msg)] = problems(entry__when={"both": []})
        assert path == "entry.when" and "a condition is { left, op, right }" in msg


class TestDocument:
    @pytest.mark.parametrize("name", ["sma_cross", "rsi_reversion", "breakout"])
    def test_examples_round_trip_through_the_document_and_toml(self, name: str) -> None:
        rules = read_rule_file(EXAMPLES / f"{name}.toml")
        assert validate_rules(to_document(rules)) == rules
        assert validate_rules(tomllib.loads(to_toml(rules))) == rules

    def test_every_number_is_a_param_by_path(self) -> None:
        rules = read_rule_file(EXAMPLES / "breakout.toml")
        fields = numeric_fields(rules)
        assert fields["exit.take_profit.1.at"] == 0.05 and fields["indicators.channel.period"] == 48
        changed = with_values(rules, {"exit.take_profit.1.at": 0.08, "exit.time_stop": 24})
        assert changed.exit.take_profit[1].at == 0.08 and changed.exit.time_stop == 24

    def test_an_invalid_param_value_is_a_strategy_error_naming_the_field(self) -> None:
        cls = rule_strategy_class(read_rule_file(EXAMPLES / "breakout.toml"))
        with pytest.raises(StrategyError, match="exit.stop_loss: stop_loss is a fraction in"):
            cls(**{"exit.stop_loss": 2.0})


class TestConditionMeaning:
    """Each row: close, and the value of the condition on that bar (batch == streaming)."""

    CLOSE = np.array([10.0, 12.0, 13.0, 11.0, 14.0, 15.0, 16.0, np.nan, 17.0])

    def both(self, condition: dict) -> list[bool]:
        doc = copy.deepcopy(BASE)
        doc["entry"]["when"] = condition
        nodes = flatten(validate_rules(doc).entry.when)
        batch = batch_values(nodes, lambda ref: self.CLOSE).tolist()
        stream = StreamNodes(nodes)
        assert [stream.step({("close", None): c}) for c in self.CLOSE] == batch
        return batch

    def test_for_bars_needs_consecutive_bars(self) -> None:
        assert self.both({"left": "close", "op": ">", "right": 11.5, "for_bars": 2}) == [
            False, False, True, False, False, True, True, False, False]

    def test_a_lag_reads_the_past_and_nan_compares_false(self) -> None:
        # close > close 1 bar ago: NaN on the first bar and around the hole
        assert self.both({"left": "close", "op": ">", "right": "close[1]"}) == [
            False, True, True, False, True, True, True, False, False]

    def test_not_and_any(self) -> None:
        cond = {"not": {"any": [{"left": "close", "op": "<", "right": 11.0},
                                {"left": "close", "op": ">=", "right": 15.0}]}}
        assert self.both(cond) == [False, True, True, True, True, False, False, True, False]

    def test_crosses_as_smacross_defines_them(self) -> None:
        assert self.both({"left": "close", "op": "crosses_below", "right": 12.5}) == [
            False, False, False, True, False, False, False, False, False]


class TestFormats:
    def test_a_json_rule_file_loads_like_its_toml_twin(self, tmp_path) -> None:
        import json

        from tradeloom.research.strategy_loader import load_strategy

        doc = to_document(read_rule_file(EXAMPLES / "rsi_reversion.toml"))
        (tmp_path / "rsi.json").write_text(json.dumps(doc))
        cls = load_strategy(str(tmp_path / "rsi.json"))
        assert cls.rules == read_rule_file(EXAMPLES / "rsi_reversion.toml")

    def test_confidence_sizing_is_event_only_and_says_why(self) -> None:
        import pandas as pd

        from tradeloom.engine.vector.form import NotVectorizable
        from tradeloom.engine.vector.run_form import as_vector_bars, form_of

        doc = copy.deepcopy(BASE)
        doc["sizing"] = {"kind": "confidence", "model": "btc_dir@champion", "min_confidence": 0.6}
        strategy = rule_strategy_class(validate_rules(doc))()
        bars = pd.DataFrame({"ts": [0, 3_600_000], "open": 1.0, "high": 1.0, "low": 1.0,
                             "close": 1.0, "volume": 1.0})
        with pytest.raises(NotVectorizable, match="sizing by model confidence .btc_dir@champion. is "
                                                   "computed online by the event engine"):
            form_of(strategy, as_vector_bars(bars, "1h"))
