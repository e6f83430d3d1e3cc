"""The training report: one self-contained HTML page per registered model version.

Everything comes from the registry row (so ``tradeloom models show REF --report``
rebuilds it for any version, and ``tradeloom train CONFIG --report`` writes it
right after training):

- the CV folds (scores, sizes, purging, embargo, fold backtests);
- the baselines and the model's edge over each, with its 95 % block-bootstrap
  interval and p-value (``evaluation.py``);
- calibration: ECE of the calibrated confidence, of the raw model probability and
  of the constant forecast, the method chosen and why (effective labels), and the
  **reliability diagram** (inline SVG: observed frequency against mean
  prediction per bin, before and after calibration, the diagonal for perfect
  calibration; dot area ~ rows in the bin);
- the CPCV path distribution when it was run;
- lineage (code commit, library versions, data range and fingerprint, the full
  config) and the version's events (promotions, retrain decisions with their test
  and p-value).

No JavaScript, no network: opens offline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tradeloom.engine.timeutil import format_utc_ms
from tradeloom.research.reports.html import esc, page, section, table

__all__ = ["reliability_svg", "training_report_html", "write_training_report"]

W, H, PAD = 360, 360, 40


def _f(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _when(ms: Any) -> str:
    return "n/a" if ms is None else format_utc_ms(int(ms))


def reliability_svg(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """An SVG reliability diagram: one polyline + dots per curve (label -> reliability rows
    with ``mean_pred``, ``frac_pos``, ``n``), the diagonal dashed.

    >>> svg = reliability_svg({"calibrated": [{"mean_pred": 0.4, "frac_pos": 0.45, "n": 10}]})
    >>> svg.startswith("<svg") and "calibrated" in svg
    True
    """
    colors = ("#2563eb", "#dc2626", "#16a34a")
    span = W - 2 * PAD

    def x(v: float) -> float:
        return PAD + v * span

    def y(v: float) -> float:
        return H - PAD - v * span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
             f'viewBox="0 0 {W} {H}" role="img" aria-label="reliability diagram">',
             f'<rect x="{PAD}" y="{PAD}" width="{span}" height="{span}" fill="none" '
             'stroke="#9ca3af"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#9ca3af" '
             'stroke-dasharray="4,3"/>']
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{x(t):.0f}" y="{H - PAD + 16}" font-size="11" '
                     f'text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{PAD - 6}" y="{y(t) + 4:.0f}" font-size="11" '
                     f'text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{W / 2:.0f}" y="{H - 6}" font-size="12" text-anchor="middle">'
                 'mean predicted probability</text>')
    parts.append(f'<text x="12" y="{H / 2:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {H / 2:.0f})">observed frequency</text>')
    total = max((sum(int(r["n"]) for r in rows) for rows in curves.values()), default=1) or 1
    for k, (label, rows) in enumerate(curves.items()):
        color = colors[k % len(colors)]
        pts = [(x(float(r["mean_pred"])), y(float(r["frac_pos"])), int(r["n"])) for r in rows]
        if len(pts) > 1:
            line = " ".join(f"{a:.1f},{b:.1f}" for a, b, _ in pts)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'points="{line}"/>')
        for a, b, n in pts:
            r = 2.0 + 10.0 * math.sqrt(n / total)
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{r:.1f}" fill="{color}" '
                         'fill-opacity="0.5"/>')
        parts.append(f'<text x="{PAD + 8}" y="{PAD + 16 + 15 * k}" font-size="12" '
                     f'fill="{color}">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _folds(scores: Mapping[str, Any]) -> str:
    cols = ("fold", "n_train", "n_test", "purged", "embargoed", "auc_rank", "auc", "brier",
            "log_loss", "hit_rate", "bt_total_return", "bt_sharpe")
    heads = ("fold", "train rows", "test rows", "purged", "embargoed", "AUC (scores)",
             "AUC (calibrated)", "Brier", "log loss", "hit rate", "backtest return",
             "backtest Sharpe")
    rows = [[f.get(c) if c == "fold" else _f(f.get(c), 0) if c in cols[1:5] else _f(f.get(c))
             for c in cols] for f in scores.get("folds", [])]
    cv = scores.get("cv", {})
    rows.append(["overall", "", _f(cv.get("n"), 0), "", "", _f(cv.get("auc_rank")),
                 _f(cv.get("auc")), _f(cv.get("brier")), _f(cv.get("log_loss")),
                 _f(cv.get("hit_rate")), "", ""])
    return table(heads, rows, numeric=tuple(range(1, len(cols))))


def _baselines(ev: Mapping[str, Any]) -> str:
    model = ev.get("model", {})
    rows = [["model", _f(model.get("auc")), _f(model.get("brier")), _f(model.get("log_loss")),
             "", "", ""]]
    for name, b in ev.get("baselines", {}).items():
        ea, eb = b.get("edge_auc", {}), b.get("edge_brier", {})
        rows.append([name, _f(b.get("auc")), _f(b.get("brier")), _f(b.get("log_loss")),
                     f"{_f(ea.get('value'))} [{_f(ea.get('ci_low'))}, {_f(ea.get('ci_high'))}]",
                     f"{_f(eb.get('value'), 5)} [{_f(eb.get('ci_low'), 5)}, "
                     f"{_f(eb.get('ci_high'), 5)}]",
                     f"{_f(ea.get('p_value'), 3)} / {_f(eb.get('p_value'), 3)}"])
    return table(("forecast", "AUC", "Brier", "log loss", "model's AUC edge [95% CI]",
                  "model's Brier edge [95% CI]", "p (AUC / Brier)"), rows,
                 numeric=(1, 2, 3))


def _calibration(ev: Mapping[str, Any], fit: Mapping[str, Any]) -> str:
    cal = ev.get("calibration", {})
    facts = table(("measure", "value"), [
        ("ECE, calibrated (out of fold)", _f(cal.get("ece"))),
        ("ECE, raw model probability", _f(cal.get("ece_raw"))),
        ("ECE, constant forecast (training base rate)", _f(cal.get("ece_constant"))),
        ("distinct calibrated values", cal.get("distinct_values", "n/a")),
        ("method (final model)", f"{fit.get('calibration')} (asked: {fit.get('requested')})"),
        ("effective labels (final model)", _f(fit.get("effective_n"), 1)),
        ("information test p (final model)", _f(fit.get("information_p"), 4)),
        ("method per CV fold", ", ".join(cal.get("fold_methods", [])) or "n/a"),
    ], numeric=(1,))
    curves = {"calibrated": cal.get("reliability", [])}
    if cal.get("reliability_raw"):
        curves["raw"] = cal["reliability_raw"]
    rel = table(("bin", "rows", "mean prediction", "observed"),
                [(f"{r['lo']:.1f}-{r['hi']:.1f}", r["n"], _f(r["mean_pred"]), _f(r["frac_pos"]))
                 for r in cal.get("reliability", [])], numeric=(1, 2, 3))
    return (f'<div class="grid"><div>{reliability_svg(curves)}</div><div>{facts}'
            f'<p class="note">calibrated reliability, pooled out-of-fold rows</p>{rel}</div></div>')


def _cpcv(block: Mapping[str, Any]) -> str:
    cols = [c for c in ("path", "rows", "auc", "brier", "ece", "bt_sharpe", "bt_total_return",
                        "bt_max_drawdown") if any(c in p for p in block.get("paths", []))]
    paths = table(cols, [[_f(p.get(c)) if c != "path" else p[c] for c in cols]
                         for p in block.get("paths", [])], numeric=tuple(range(1, len(cols))))
    summary = table(("score", "mean", "std", "min", "median", "max"),
                    [[k, *(_f(v.get(s)) for s in ("mean", "std", "min", "median", "max"))]
                     for k, v in block.get("summary", {}).items()], numeric=(1, 2, 3, 4, 5))
    note = (f"{block.get('groups')} groups, {block.get('test_groups')} tested: "
            f"{block.get('splits')} splits, {block.get('n_paths')} paths, embargo "
            f"{block.get('embargo_bars')} bars")
    return f'<p class="note">{esc(note)}</p>{paths}{summary}'


def _lineage(v: Any) -> str:
    lin = dict(v.lineage or {})
    code = lin.get("code", {})
    rows = [("code version", v.code_version), ("git commit", code.get("commit") or "n/a"),
            ("uncommitted changes", code.get("dirty")),
            ("data", f"{v.data.get('exchange')} {v.data.get('timeframe')} "
                     f"{', '.join(v.data.get('symbols', []))} {_when(v.data.get('start'))} to "
                     f"{_when(v.data.get('end'))} ({v.data.get('rows')} bars)"),
            ("data fingerprint", v.data_fingerprint), ("config hash", v.config_hash),
            ("features", f"{len(v.pipeline.get('features', []))}, fingerprint "
                         f"{lin.get('features', {}).get('fingerprint', 'n/a')}"),
            ("label", json.dumps(dict(v.label), sort_keys=True)),
            ("artifact sha256", v.artifact_sha256)]
    rows += [(f"library {k}", val) for k, val in sorted(lin.get("libraries", {}).items())]
    facts = table(("what", "value"), rows)
    config = json.dumps(lin.get("config", {}), indent=1, sort_keys=True)
    return f"{facts}<h3>validated config</h3><pre><code>{esc(config)}</code></pre>"


def _events(events: Iterable[Any]) -> str:
    rows = []
    for e in events:
        test = (e.figures or {}).get("test") or {}
        extra = (f"{test.get('test')} p = {_f(test.get('p_value'), 4)}" if test else "")
        rows.append((_when(e.ts), e.event, e.who, e.why, extra))
    return table(("when", "event", "who", "why", "test"), rows)


def training_report_html(version: Any, events: Iterable[Any] = ()) -> str:
    """The report of a ``registry.ModelVersion`` (and its events) as one HTML document."""
    scores = dict(version.scores)
    ev = scores.get("evaluation", {})
    fit = scores.get("fit", {})
    body = [section("folds", "Purged walk-forward CV", _folds(scores),
                    f"embargo {scores.get('embargo_bars', 'n/a')} bars, {scores.get('rows')} "
                    "training rows")]
    if ev:
        body.append(section("baselines", "Baselines and the model's edge", _baselines(ev),
                            f"{ev.get('rows')} out-of-fold rows in {ev.get('blocks')} "
                            f"label-horizon blocks, {ev.get('n_boot')} block-bootstrap resamples"))
        body.append(section("calibration", "Calibration", _calibration(ev, fit)))
    if "cpcv" in scores:
        body.append(section("cpcv", "Combinatorial purged CV paths", _cpcv(scores["cpcv"])))
    body.append(section("lineage", "Lineage", _lineage(version)))
    body.append(section("events", "Events", _events(events)))
    nav = [("folds", "CV"), ("baselines", "baselines"), ("calibration", "calibration"),
           ("lineage", "lineage"), ("events", "events")]
    sub = (f"{version.status} {version.kind}, created {_when(version.created_at)}, "
           f"code {version.code_version}")
    return page(f"{version.ref} training report", sub, nav, "\n".join(body), "")


def write_training_report(path: str | Path, version: Any, events: Iterable[Any] = ()) -> Path:
    """Write :func:`training_report_html` atomically to ``path``."""
    from tradeloom.research.reports.report import write_atomic

    return write_atomic(path, training_report_html(version, events))
