"""The status page of ``tradeloom serve``: one self-contained HTML document.

Why self-contained: the page is opened on trading hosts at 3 a.m., often without
internet access, and must not load anything from elsewhere (the server's
Content-Security-Policy forbids it too). CSS and JS are inline; the equity
sparkline is an inline SVG drawn by the page's script.

The first paint uses the status embedded in the page (``render_page``); the script
then refreshes it from ``/api/status`` every ``refresh_s`` seconds. Each runner has
a kill button that asks ``confirm()`` before it POSTs ``/api/kill`` (same-origin
JSON; the login cookie, when a token is configured, goes with it).

>>> html = render_page({"runners": [], "healthy": False, "problems": [], "now_ms": 0})
>>> "<script" in html and "http" not in html.split("<body>")[1]
True
"""

from __future__ import annotations

import html
import json
from typing import Any

_CSS = """
:root{--bg:#0f1419;--card:#182028;--line:#2a3642;--text:#dfe6ec;--mute:#8a99a8;
--ok:#3fb950;--warn:#d29922;--bad:#f85149;--accent:#58a6ff}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;
background:var(--bg);color:var(--text)}header{display:flex;align-items:center;gap:12px;
padding:12px 20px;border-bottom:1px solid var(--line)}h1{font-size:18px;margin:0}
main{padding:16px 20px;display:grid;gap:16px}.muted{color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;
border:1px solid currentColor}.running,.ok{color:var(--ok)}.paused,.warning{color:var(--warn)}
.killed,.stopped,.bad,.error,.critical,.mismatch{color:var(--bad)}.info{color:var(--accent)}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.head{display:flex;flex-wrap:wrap;align-items:center;gap:10px}.head h2{margin:0;font-size:16px}
.stats{display:flex;flex-wrap:wrap;gap:18px;margin:10px 0}.stat b{display:block;font-size:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:12px}
.grid>div{min-width:0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12px}th,td{text-align:left;padding:3px 6px;
border-bottom:1px solid var(--line);white-space:nowrap}th{color:var(--mute);font-weight:500}
h3{font-size:13px;margin:10px 0 4px;color:var(--mute);font-weight:600}
svg.spark{background:#11181f;border:1px solid var(--line);border-radius:4px}
button.kill{margin-left:auto;background:#3d1214;color:#ffb4ae;border:1px solid var(--bad);
border-radius:6px;padding:6px 14px;font-weight:700;cursor:pointer}
button.kill:disabled{opacity:.45;cursor:default}.chip{margin-right:6px}
#banner{padding:8px 20px;display:none}#banner.show{display:block;background:#3d1214}
.problems{margin:6px 0 0;padding-left:18px;color:var(--warn)}
"""

_JS = r"""
const REFRESH_MS = __REFRESH_MS__;
const esc = v => String(v ?? '').replace(/[&<>"']/g,
  c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const num = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v)) ? '-' :
  Number(v).toLocaleString('en-US', {minimumFractionDigits: d, maximumFractionDigits: d});
const utc = ms => ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) : '-';
const age = s => s === null || s === undefined ? '-' : s < 120 ? `${s.toFixed(1)} s` :
  s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;

function sparkline(points) {
  const w = 320, h = 64, p = 3;
  if (!points || points.length < 2) {
    return `<svg class="spark" width="${w}" height="${h}" data-points="0"></svg>`;
  }
  const ys = points.map(q => q[1]);
  const lo = Math.min(...ys), hi = Math.max(...ys), span = (hi - lo) || 1;
  const xy = points.map((q, i) => [p + i * (w - 2 * p) / (points.length - 1),
                                   h - p - (q[1] - lo) * (h - 2 * p) / span]);
  const pts = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  const up = ys[ys.length - 1] >= ys[0];
  return `<svg class="spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"
    data-points="${points.length}" aria-label="equity">
    <polyline fill="none" stroke="${up ? '#3fb950' : '#f85149'}" stroke-width="1.6"
      points="${pts}"/></svg>`;
}

function table(cols, rows, empty) {
  if (!rows.length) return `<div class="muted">${esc(empty)}</div>`;
  return `<table><tr>${cols.map(c => `<th>${esc(c[0])}</th>`).join('')}</tr>` +
    rows.map(r => `<tr>${cols.map(c => `<td>${c[1](r)}</td>`).join('')}</tr>`).join('') +
    '</table>';
}

function card(r) {
  const h = r.health, pnl = r.equity - r.initial_equity;
  const live = r.state === 'running' || r.state === 'paused';
  const breakers = r.breakers.map(b => `<span class="chip badge ${b.tripped ? 'bad' : 'ok'}">` +
    `${esc(b.name)}${b.tripped ? ' TRIPPED' : ''}</span>`).join('') || '<span class="muted">none</span>';
  const problems = h.problems.length ?
    `<ul class="problems">${h.problems.map(p => `<li>${esc(p)}</li>`).join('')}</ul>` : '';
  return `<section class="card runner" data-runner="${esc(r.runner_id)}" data-state="${esc(r.state)}">
  <div class="head"><h2 class="runner-id">${esc(r.runner_id)}</h2>
    <span class="badge state ${esc(r.state)}">${esc(r.state)}</span>
    <span class="badge ${h.healthy ? 'ok' : 'bad'}">${h.healthy ? 'healthy' : 'unhealthy'}</span>
    <span class="muted">${esc(r.mode)} · account ${esc(r.account)} · ${esc(r.exchange)}
      ${esc(r.timeframe)} · ${esc(r.symbols.join(', '))} · ${esc(r.strategy.split('/').pop())}</span>
    <button class="kill" data-runner="${esc(r.runner_id)}" data-account="${esc(r.account)}"
      ${live ? '' : 'disabled'}>${r.state === 'killed' ? 'KILLED' : 'KILL'}</button></div>
  ${problems}
  <div class="stats">
    <div class="stat"><span class="muted">equity ${esc(r.quote)}</span><b>${num(r.equity)}</b></div>
    <div class="stat"><span class="muted">PnL</span><b class="${pnl >= 0 ? 'ok' : 'bad'}">${num(pnl)}</b></div>
    <div class="stat"><span class="muted">exposure</span><b>${num(r.exposure)} (${num(100 * (r.equity > 0 ? r.exposure / r.equity : 0), 1)}%)</b></div>
    <div class="stat"><span class="muted">last event</span><b>${age(h.last_event_age_s)}</b></div>
    <div class="stat"><span class="muted">clock drift</span><b>${r.clock_drift_ms ?? '-'} ms</b></div>
    <div class="stat"><span class="muted">exchange</span><b class="${r.link.consecutive_errors ? 'bad' : 'ok'}">
      ${r.link.consecutive_errors ? r.link.consecutive_errors + ' errors' : 'ok'}</b></div>
    <div class="stat"><span class="muted">reconciliation</span><b class="${esc(r.reconciliation.status)}">${esc(r.reconciliation.status)}</b></div>
    <div class="stat"><span class="muted">bars / fills</span><b>${r.counters.bars} / ${Object.values(r.counters.fills).reduce((a, b) => a + b, 0)}</b></div>
  </div>
  <div class="grid"><div><h3>Equity (${r.equity_history.length} points)</h3>${sparkline(r.equity_history)}
    <h3>Breakers</h3>${breakers}</div>
  <div><h3>Positions</h3>${table([['symbol', p => esc(p.symbol)], ['amount', p => num(p.amount, 6)],
      ['avg entry', p => num(p.avg_entry)], ['mark', p => num(p.mark)], ['value', p => num(p.value)],
      ['unrealized', p => num(p.unrealized)]], r.positions, 'flat')}
    <h3>Open orders</h3>${table([['id', o => o.order_id], ['symbol', o => esc(o.symbol)],
      ['side', o => esc(o.side)], ['type', o => esc(o.type)], ['amount', o => num(o.amount, 6)],
      ['price', o => num(o.price)]], r.open_orders, 'none')}</div></div>
  <div class="grid"><div><h3>Recent orders</h3>${table([['time', o => utc(o.created_ts)],
      ['symbol', o => esc(o.symbol)], ['side', o => esc(o.side)], ['type', o => esc(o.type)],
      ['status', o => `<span title="${esc(o.reason)}">${esc(o.status)}</span>`], ['amount', o => num(o.amount, 6)], ['filled', o => num(o.filled, 6)]],
      r.recent_orders.slice(-10).reverse(), 'none yet')}</div>
  <div><h3>Recent fills</h3>${table([['time', f => utc(f.ts)], ['symbol', f => esc(f.symbol)],
      ['side', f => esc(f.side)], ['price', f => num(f.price)], ['amount', f => num(f.amount, 6)],
      ['fee', f => num(f.fee, 4)]], r.recent_fills.slice(-10).reverse(), 'none yet')}</div>
  <div><h3>Alerts</h3>${table([['when', a => utc(a.ms)], ['level', a => `<span class="${esc(a.level)}">${esc(a.level)}</span>`],
      ['message', a => esc(a.message)]], r.alerts.slice().reverse(), 'none')}</div></div>
</section>`;
}

function render(data) {
  const runners = data.runners || [];
  document.getElementById('overall').className = 'badge ' + (data.healthy ? 'ok' : 'bad');
  document.getElementById('overall').textContent = data.healthy ? 'all healthy' : 'attention';
  document.getElementById('updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
  const problems = (data.problems || []).map(p => `<div class="card warning">${esc(p)}</div>`).join('');
  document.getElementById('runners').innerHTML = problems + (runners.length ? runners.map(card).join('') :
    '<div class="card muted">No runner is publishing a status in this state directory.</div>');
}

function banner(text) {
  const b = document.getElementById('banner');
  b.textContent = text; b.className = text ? 'show' : '';
}

async function refresh() {
  try {
    const resp = await fetch('/api/status', {cache: 'no-store', credentials: 'same-origin'});
    if (resp.status === 401) { location.reload(); return; }
    if (!resp.ok) throw new Error('HTTP ' + resp.status);
    render(await resp.json());
    banner('');
  } catch (err) {
    banner('status server unreachable: ' + err.message + ' (retrying)');
  }
}

async function kill(runner, account) {
  const ok = window.confirm(`Kill runner ${runner} (account ${account})?\n\n` +
    'Every open order is cancelled and new entries are blocked for the whole account ' +
    'until the KILL flag is deleted.');
  if (!ok) return;
  try {
    const resp = await fetch('/api/kill', {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify({runner_id: runner})});
    const body = await resp.json();
    banner(resp.ok ? `kill flag ${body.flag} written: ${body.note}` : 'kill failed: ' + body.error);
  } catch (err) {
    banner('kill failed: ' + err.message);
  }
  refresh();
}

document.addEventListener('click', ev => {
  const btn = ev.target.closest('button.kill');
  if (btn && !btn.disabled) kill(btn.dataset.runner, btn.dataset.account);
});
render(JSON.parse(document.getElementById('initial').textContent));
setInterval(refresh, REFRESH_MS);
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tradeloom status</title><style>{css}</style></head>
<body><header><h1>tradeloom status</h1><span id="overall" class="badge"></span>
<span id="updated" class="muted"></span><a href="/builder" style="margin-left:auto;color:var(--accent)">strategy builder</a></header><div id="banner"></div>
<main id="runners"></main>
<script id="initial" type="application/json">{initial}</script>
<script>{js}</script></body></html>
"""

_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tradeloom status: token</title>
<style>{css}</style></head><body><header><h1>tradeloom status</h1></header><main>
<form class="card" method="post" action="/login"><p>This server needs its access token.</p>
<p class="bad">{message}</p><input type="password" name="token" autocomplete="current-password"
size="48" autofocus><input type="hidden" name="next" value="{next_path}">
<button type="submit">Open</button></form></main></body></html>
"""


def _json_for_script(data: Any) -> str:
    """JSON safe inside ``<script>``: no ``</script>`` or HTML comment can be formed."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(initial: dict[str, Any], *, refresh_s: float = 3.0) -> str:
    """The page with ``initial`` (a ``/api/status`` body) embedded for the first paint."""
    js = _JS.replace("__REFRESH_MS__", str(int(refresh_s * 1000)))
    return _PAGE.format(css=_CSS, initial=_json_for_script(initial), js=js)


def login_page(message: str = "", next_path: str = "/") -> str:
    """The token form shown by ``GET /`` (or ``/builder``) without a valid token; after
    login the browser goes back to ``next_path``."""
    return _LOGIN.format(css=_CSS, message=html.escape(message), next_path=html.escape(next_path))


__all__ = ["login_page", "render_page"]
