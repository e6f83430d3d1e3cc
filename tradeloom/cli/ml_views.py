"""Terminal views of trained models for ``tradeloom train | retrain | models show``.

Rich tables built from a registry version's stored scores: the CV folds, the
baselines with the model's edge and its interval, calibration (ECE against the
constant forecast, method, reliability bins), CPCV paths, lineage, and a retrain
decision with its paired test.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["decision_table", "fmt", "print_version", "version_tables"]


def fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:,.{digits}f}"
    return "n/a" if v is None else str(v)


def _folds(title: str, scores: dict[str, Any]) -> Table:
    cols = ("fold", "n_test", "auc_rank", "auc", "log_loss", "brier", "hit_rate",
            "bt_total_return", "bt_sharpe")
    heads = ("fold", "n_test", "auc scores", "auc calibrated", "log_loss", "brier", "hit_rate",
             "bt_total_return", "bt_sharpe")
    table = Table(title=title)
    for col in heads:
        table.add_column(col, justify="right", min_width=7 if col == "fold" else None)
    for row in scores.get("folds", []):
        table.add_row(*(fmt(row.get(c)) if c != "n_test" else fmt(row.get(c), 0) for c in cols))
    cv = scores.get("cv", {})
    bt = scores.get("backtest_mean", {})
    table.add_row("overall", fmt(cv.get("n"), 0), fmt(cv.get("auc_rank")), fmt(cv.get("auc")),
                  fmt(cv.get("log_loss")), fmt(cv.get("brier")), fmt(cv.get("hit_rate")),
                  fmt(bt.get("total_return")), fmt(bt.get("sharpe")), style="bold")
    return table


def _baselines(ev: dict[str, Any]) -> Table:
    table = Table(title=f"baselines: the model's edge, 95% block-bootstrap CI "
                        f"({ev.get('rows')} rows, {ev.get('blocks')} blocks)")
    for col in ("forecast", "auc", "brier", "auc edge [95% CI]", "brier edge [95% CI]",
                "p auc"):
        table.add_column(col, justify="right")
    m = ev.get("model", {})
    table.add_row("model", fmt(m.get("auc")), fmt(m.get("brier")), "", "", "", style="bold")
    table.caption = "model auc: its raw scores' ranking; brier: its calibrated confidence"
    for name, b in ev.get("baselines", {}).items():
        ea, eb = b.get("edge_auc", {}), b.get("edge_brier", {})
        table.add_row(name, fmt(b.get("auc")), fmt(b.get("brier")),
                      f"{fmt(ea.get('value'))} [{fmt(ea.get('ci_low'))}, {fmt(ea.get('ci_high'))}]",
                      f"{fmt(eb.get('value'), 5)} [{fmt(eb.get('ci_low'), 5)}, "
                      f"{fmt(eb.get('ci_high'), 5)}]", fmt(ea.get("p_value"), 3))
    return table


def _calibration(ev: dict[str, Any], fit: dict[str, Any]) -> Table:
    cal = ev.get("calibration", {})
    table = Table(title=f"calibration: {fit.get('calibration')} (asked {fit.get('requested')}, "
                        f"{fmt(fit.get('effective_n'), 0)} effective labels, information test "
                        f"p = {fmt(fit.get('information_p'), 3)}); out-of-fold ECE "
                        f"{fmt(cal.get('ece'))} calibrated, {fmt(cal.get('ece_raw'))} raw, "
                        f"{fmt(cal.get('ece_constant'))} constant forecast")
    for col in ("bin", "rows", "mean prediction", "observed"):
        table.add_column(col, justify="right")
    for r in cal.get("reliability", []):
        table.add_row(f"{r['lo']:.1f}-{r['hi']:.1f}", str(r["n"]), fmt(r["mean_pred"]),
                      fmt(r["frac_pos"]))
    return table


def _cpcv(block: dict[str, Any]) -> Table:
    table = Table(title=f"CPCV: {block.get('n_paths')} paths from {block.get('splits')} splits "
                        f"({block.get('groups')} groups, {block.get('test_groups')} tested)")
    for col in ("score", "mean", "std", "min", "median", "max"):
        table.add_column(col, justify="right")
    for k, v in block.get("summary", {}).items():
        table.add_row(k, *(fmt(v.get(s)) for s in ("mean", "std", "min", "median", "max")))
    return table


def version_tables(ref: str, scores: dict[str, Any]) -> list[Table]:
    """The tables of one version's scores (folds, baselines, calibration, CPCV)."""
    out = [_folds(f"{ref} purged walk-forward CV (embargo {scores.get('embargo_bars', 'n/a')} "
                  "bars)", scores)]
    ev = scores.get("evaluation")
    if ev:
        out += [_baselines(ev), _calibration(ev, scores.get("fit", {}))]
    if "cpcv" in scores:
        out.append(_cpcv(scores["cpcv"]))
    return out


def print_version(console: Console, v: Any, events: list[Any]) -> None:
    """Everything ``models show`` prints about one version (fact lines are soft-wrapped, so
    hashes and JSON stay whole for copying and grepping)."""
    lin = dict(v.lineage or {})
    code = lin.get("code", {})

    def say(text: str) -> None:
        console.print(escape(text), soft_wrap=True, highlight=False)

    console.print(f"[bold]{v.ref}[/] {v.status} {v.kind}", highlight=False)
    say(f"code {v.code_version}  commit {code.get('commit') or 'n/a'}  uncommitted changes "
        f"{code.get('dirty')}")
    say(f"artifact {v.artifact_sha256}  config hash {v.config_hash}")
    libs = lin.get("libraries", {})
    if libs:
        say("libraries: " + ", ".join(f"{k} {val}" for k, val in sorted(libs.items())))
    say(f"data: {json.dumps(dict(v.data))}  fingerprint {v.data_fingerprint}")
    feats = lin.get("features", {}).get("fingerprint")
    say(f"features: {len(v.pipeline.get('features', []))}"
        + (f"  fingerprint {feats}" if feats else ""))
    say(f"label: {json.dumps(dict(v.label))}")
    say(f"model: {json.dumps(dict(v.model))}")
    if lin.get("config"):
        say(f"config: {json.dumps(lin['config'], sort_keys=True)}")
    for table in version_tables(v.ref, dict(v.scores)):
        console.print(table)
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.ts / 1000))
        test = (e.figures or {}).get("test") or {}
        extra = f" [{test.get('test')} p = {fmt(test.get('p_value'))}]" if test else ""
        say(f"{when} {e.event} by {e.who}: {e.why}{extra}")


def decision_table(d: Any) -> Table:
    """Both models' holdout figures and the paired test of a retrain decision."""
    verdict = "promoted" if d.promoted else "kept champion"
    test = d.test or {}
    title = f"retrain {d.name}: {verdict}{' (replayed)' if d.replayed else ''}"
    if test:
        title += (f"; {test.get('test')} p = {fmt(test.get('p_value'))} (alpha {d.alpha}), "
                  f"margin {d.margin}")
    table = Table(title=title)
    for col in ("model", "ref", "auc", "auc scores", "log_loss", "brier", "hit_rate",
                "bt_total_return", "bt_sharpe"):
        table.add_column(col, justify="right")
    for key in ("challenger", "champion"):
        f = d.figures.get(key)
        if f:
            s, b = f["scores"], f["backtest"]
            table.add_row(key, f["ref"], fmt(s.get("auc")), fmt(s.get("auc_rank")),
                          fmt(s.get("log_loss")),
                          fmt(s.get("brier")), fmt(s.get("hit_rate")),
                          fmt(b.get("total_return")), fmt(b.get("sharpe")))
    return table
