"""The strategy builder page: one self-contained HTML document (no CDN, no external request).

The page keeps the rule set being edited as a small JavaScript model, renders a form
from it (market, indicators, entry and exit conditions, exits, sizing) and turns it
into the rule *document* the server validates (``POST /api/builder/validate``) after
every change. The answer's TOML is shown as the file the form writes, and each
problem appears next to the field it names (every input carries the document path
it edits, e.g. ``entry.when.all.1.right``), and in a list. Files load from
``/api/builder/files``; "Save" writes the rules folder; "Run backtest" runs it on the
catalog and shows the report of ``research.reports`` in a frame (same origin).

>>> html = render_builder()
>>> "<script>" in html and "http:" not in html and "https:" not in html
True
"""

from __future__ import annotations

__all__ = ["render_builder"]

_CSS = """
:root{--bg:#0f1419;--card:#182028;--line:#2a3642;--text:#dfe6ec;--mute:#8a99a8;
--ok:#3fb950;--warn:#d29922;--bad:#f85149;--accent:#58a6ff;--field:#0f161d}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;
background:var(--bg);color:var(--text)}
header{display:flex;align-items:center;gap:14px;padding:10px 20px;border-bottom:1px solid var(--line)}
header h1{font-size:18px;margin:0}header a{color:var(--accent);margin-left:auto}
main{display:grid;grid-template-columns:minmax(560px,1.1fr) minmax(420px,1fr);gap:16px;padding:16px 20px}
.col{display:grid;gap:14px;align-content:start;min-width:0}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card h2{font-size:14px;margin:0 0 10px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em}
.row{display:flex;flex-wrap:wrap;align-items:flex-end;gap:10px;margin:6px 0}
label{display:flex;flex-direction:column;gap:3px;font-size:12px;color:var(--mute)}
input,select,textarea{background:var(--field);color:var(--text);border:1px solid var(--line);
border-radius:5px;padding:5px 7px;font:inherit;font-size:13px}
input[type=number]{width:92px}input.wide{width:220px}input.num{width:110px}
select:focus,input:focus{outline:1px solid var(--accent)}
button{background:#1f2a36;color:var(--text);border:1px solid var(--line);border-radius:6px;
padding:6px 12px;font:inherit;font-size:13px;cursor:pointer}button:hover{border-color:var(--accent)}
button.primary{background:#16406e;border-color:var(--accent)}button.small{padding:3px 8px;font-size:12px}
button.remove{color:#ffb4ae;border-color:#5c2a2a}button:disabled{opacity:.5;cursor:default}
.ind{border:1px solid var(--line);border-radius:6px;padding:6px 8px;margin:6px 0;background:#141c24}
.node{border-left:3px solid var(--line);padding:4px 0 4px 10px;margin:6px 0}
.node.group{border-left-color:var(--accent)}.node.negated{border-left-color:var(--warn)}
.chips{display:flex;flex-wrap:wrap;gap:6px}label.chip{flex-direction:row;align-items:center;gap:5px;
background:var(--field);border:1px solid var(--line);border-radius:12px;padding:3px 10px;font-size:12px;
color:var(--text);width:max-content}
.operand{display:inline-flex;gap:4px;align-items:flex-end}
.err{color:var(--bad);font-size:12px;margin:3px 0 0}.invalid{outline:1px solid var(--bad)!important;
border-color:var(--bad)!important}
pre{background:var(--field);border:1px solid var(--line);border-radius:6px;padding:10px;
margin:0;font-size:12px;white-space:pre-wrap;max-height:460px;overflow:auto}
#problems li{margin:3px 0;cursor:pointer}#problems code{color:var(--warn)}
.status{font-size:13px}.status.ok{color:var(--ok)}.status.bad{color:var(--bad)}
table{border-collapse:collapse;width:100%;font-size:12px}td,th{padding:3px 6px;
border-bottom:1px solid var(--line);text-align:left}td.v{text-align:right;font-variant-numeric:tabular-nums}
iframe{width:100%;height:1100px;border:1px solid var(--line);border-radius:6px;background:#fff}
.muted{color:var(--mute)}.hint{font-size:12px;color:var(--mute)}
"""

_JS = r"""
'use strict';
const $ = s => document.querySelector(s);
const esc = v => String(v ?? '').replace(/[&<>"']/g,
  c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
let META = null, state = null, validateTimer = null, lastCheck = null, seq = 0;

function starter() {
  return {name: 'my_rules', description: '', exchange: 'binance', symbols: ['BTC/USDT'],
    timeframe: '1h', risk_profile: '', indicators: [],
    entry: {side: 'long', when: cmp('close', '>', {num: 0})},
    exit: {use_when: false, when: cmp('close', '<', {num: 0}), stop_loss: '', take_profit: [],
           trailing_stop: '', time_stop: '24'},
    sizing: {kind: 'percent_equity', percent: '1.0'}};
}
function operand(x) { return typeof x === 'object' ? {kind: 'num', ref: 'close', lag: 0, num: x.num}
  : {kind: 'ref', ref: x, lag: 0, num: 0}; }
function cmp(l, op, r) { return {type: 'cmp', left: operand(l), op, right: operand(r), for_bars: 1, negate: false}; }
function group(mode) { return {type: 'group', mode, children: [cmp('close', '>', {num: 0})], for_bars: 1, negate: false}; }

// ---------------------------------------------------------------- model -> document
const number = v => (v === '' || v === null || v === undefined) ? undefined : Number(v);
function operandDoc(o) { return o.kind === 'num' ? number(o.num) ?? o.num : o.ref + (Number(o.lag) > 0 ? `[${Number(o.lag)}]` : ''); }
function condDoc(n, path) {
  let doc, inner = n.negate ? path + '.not' : path;
  n.path = inner;
  if (n.type === 'cmp') {
    doc = {left: operandDoc(n.left), op: n.op, right: operandDoc(n.right)};
  } else {
    doc = {[n.mode]: n.children.map((c, i) => condDoc(c, `${inner}.${n.mode}.${i}`))};
  }
  if (n.negate) doc = {not: doc};
  if (Number(n.for_bars) > 1) doc.for_bars = Number(n.for_bars);
  return doc;
}
function toDoc(s) {
  const doc = {name: s.name};
  if (s.description) doc.description = s.description;
  doc.symbols = s.symbols.slice();
  doc.timeframe = s.timeframe;
  if (s.risk_profile) doc.risk_profile = s.risk_profile;
  doc.indicators = {};
  for (const ind of s.indicators) {
    const t = {kind: ind.kind};
    if (ind.source && ind.source !== 'close') t.source = ind.source;
    for (const [k, v] of Object.entries(ind.params)) if (v !== '') t[k] = number(v);
    doc.indicators[ind.name] = t;
  }
  doc.entry = {side: s.entry.side, when: condDoc(s.entry.when, 'entry.when')};
  const ex = {};
  if (s.exit.use_when) ex.when = condDoc(s.exit.when, 'exit.when');
  if (s.exit.stop_loss !== '') ex.stop_loss = number(s.exit.stop_loss);
  if (s.exit.take_profit.length) ex.take_profit = s.exit.take_profit.map(t => ({at: number(t.at), fraction: number(t.fraction)}));
  if (s.exit.trailing_stop !== '') ex.trailing_stop = number(s.exit.trailing_stop);
  if (s.exit.time_stop !== '') ex.time_stop = number(s.exit.time_stop);
  doc.exit = ex;
  const sz = {kind: s.sizing.kind};
  for (const [k, v] of Object.entries(s.sizing)) if (k !== 'kind' && v !== '') sz[k] = k === 'model' ? v : number(v);
  doc.sizing = sz;
  return doc;
}

// ---------------------------------------------------------------- document -> model
function parseOperand(x) {
  if (typeof x === 'number') return {kind: 'num', ref: 'close', lag: 0, num: x};
  const m = /^(.*?)(?:\[(\d+)\])?$/.exec(String(x));
  return {kind: 'ref', ref: m[1], lag: Number(m[2] || 0), num: 0};
}
function fromCond(c) {
  if (c.not) {  // "not" is a flag on the node it negates; for_bars then belongs to the "not"
    const inner = c.not;
    let n = fromCond(inner);
    if (n.negate || (inner.for_bars || 1) > 1) n = {type: 'group', mode: 'all', children: [n], for_bars: 1, negate: false};
    n.negate = true; n.for_bars = c.for_bars || 1;
    return n;
  }
  if (c.all || c.any) {
    const mode = c.all ? 'all' : 'any';
    return {type: 'group', mode, children: c[mode].map(fromCond), for_bars: c.for_bars || 1, negate: false};
  }
  return {type: 'cmp', left: parseOperand(c.left), op: c.op, right: parseOperand(c.right), for_bars: c.for_bars || 1, negate: false};
}
function fromDoc(doc) {
  const s = starter();
  s.name = doc.name || 'rules'; s.description = doc.description || '';
  s.symbols = doc.symbols || []; s.timeframe = doc.timeframe || '1h';
  s.risk_profile = doc.risk_profile || '';
  s.indicators = Object.entries(doc.indicators || {}).map(([name, t]) => {
    const params = {};
    for (const [k, v] of Object.entries(t)) if (k !== 'kind' && k !== 'source') params[k] = String(v);
    return {name, kind: t.kind, source: t.source || 'close', params};
  });
  s.entry = {side: doc.entry.side || 'long', when: fromCond(doc.entry.when)};
  const ex = doc.exit || {};
  s.exit = {use_when: !!ex.when, when: ex.when ? fromCond(ex.when) : cmp('close', '<', {num: 0}),
    stop_loss: ex.stop_loss ?? '', take_profit: (ex.take_profit || []).map(t => ({at: String(t.at), fraction: String(t.fraction)})),
    trailing_stop: ex.trailing_stop ?? '', time_stop: ex.time_stop ?? ''};
  for (const k of ['stop_loss', 'trailing_stop', 'time_stop']) s.exit[k] = String(s.exit[k]);
  const sz = doc.sizing || {kind: 'percent_equity', percent: 1.0};
  s.sizing = {kind: sz.kind};
  for (const [k, v] of Object.entries(META.sizing[sz.kind] || {})) s.sizing[k] = String(sz[k] ?? v);
  return s;
}

// ---------------------------------------------------------------- rendering
function opt(value, label, selected, disabled) {
  return `<option value="${esc(value)}"${selected ? ' selected' : ''}${disabled ? ' disabled' : ''}>${esc(label)}</option>`;
}
function refOptions(selected) {
  let html = '<optgroup label="bar">' + META.fields.map(f => opt(f, f, f === selected)).join('') + '</optgroup>';
  if (state.indicators.length) {
    html += '<optgroup label="indicators">';
    for (const ind of state.indicators) {
      const outs = (META.indicators[ind.kind] || {outputs: ['value']}).outputs;
      const refs = outs.length === 1 ? [ind.name] : outs.map(o => `${ind.name}.${o}`);
      html += refs.map(r => opt(r, r, r === selected)).join('');
    }
    html += '</optgroup>';
  }
  const known = html.includes(`value="${esc(selected)}"`);
  if (!known && selected) html += opt(selected, selected + ' (unknown)', true);
  return html;
}
function operandHtml(o, path, key) {
  const sel = o.kind === 'num' ? '#num' : o.ref;
  const side = key.endsWith('.left') ? 'left' : 'right';
  return `<span class="operand" data-path="${esc(path)}">
    <label>${side}<select data-bind="${key}.ref" aria-label="${key}">${opt('#num', 'number…', o.kind === 'num')}${refOptions(o.kind === 'num' ? '' : o.ref)}</select></label>
    ${o.kind === 'num' ? `<label>value<input class="num" type="number" step="any" data-bind="${key}.num" value="${esc(o.num)}" aria-label="${key} number"></label>`
      : `<label title="read the value this many bars ago">bars ago<input type="number" min="0" step="1" data-bind="${key}.lag" value="${esc(o.lag)}" aria-label="${key} bars ago" style="width:64px"></label>`}
  </span>`;
}
function nodeHtml(n, key) {
  const head = `<div class="row">
    <label title="true only when it held this many bars in a row">for bars<input type="number" min="1" step="1" data-bind="${key}.for_bars" value="${esc(n.for_bars)}"></label>
    <label class="chip"><input type="checkbox" data-bind="${key}.negate" ${n.negate ? 'checked' : ''}> not</label>`;
  if (n.type === 'cmp') {
    return `<div class="node${n.negate ? ' negated' : ''}" data-path="${esc(n.path)}">
      <div class="row">${operandHtml(n.left, n.path + '.left', key + '.left')}
        <label>operator<select data-bind="${key}.op" data-path="${esc(n.path)}.op" aria-label="operator">${META.ops.map(o => opt(o, o, o === n.op)).join('')}</select></label>
        ${operandHtml(n.right, n.path + '.right', key + '.right')}</div>
      ${head}<button class="small" data-act="wrap" data-key="${key}">group it</button>
      ${key.endsWith('.when') ? '' : `<button class="small remove" data-act="del" data-key="${key}">remove</button>`}</div></div>`;
  }
  return `<div class="node group${n.negate ? ' negated' : ''}" data-path="${esc(n.path)}">
    <div class="row"><select data-bind="${key}.mode" aria-label="group">${opt('all', 'all of', n.mode === 'all')}${opt('any', 'any of', n.mode === 'any')}</select></div>
    ${n.children.map((c, i) => nodeHtml(c, `${key}.children.${i}`)).join('')}
    ${head}<button class="small" data-act="add-cmp" data-key="${key}">+ comparison</button>
      <button class="small" data-act="add-group" data-key="${key}">+ group</button>
      ${key.endsWith('.when') ? '' : `<button class="small remove" data-act="del" data-key="${key}">remove</button>`}</div></div>`;
}
function indicatorHtml(ind, i) {
  const meta = META.indicators[ind.kind];
  const params = meta.params.map(p => `<label>${esc(p.name)}<input type="number" step="${p.type === 'int' ? 1 : 'any'}"
      data-bind="indicators.${i}.params.${p.name}" value="${esc(ind.params[p.name] ?? '')}"
      placeholder="${p.required ? 'required' : esc(p.default ?? 'none')}" data-path="indicators.${esc(ind.name)}.${esc(p.name)}"></label>`).join('');
  const source = meta.single_input ? `<label>source<select data-bind="indicators.${i}.source">${
      META.fields.map(f => opt(f, f, f === ind.source)).join('')}</select></label>` : '';
  return `<div class="ind" data-path="indicators.${esc(ind.name)}"><div class="row">
    <label>name<input class="ind-name" data-bind="indicators.${i}.name" value="${esc(ind.name)}" style="width:110px"></label>
    <label>indicator<select class="ind-kind" data-bind="indicators.${i}.kind">${Object.keys(META.indicators).map(k => opt(k, k, k === ind.kind)).join('')}</select></label>
    ${source}${params}<button class="small remove" data-act="del-ind" data-key="${i}">remove</button></div>
    <div class="hint">outputs: ${esc(meta.outputs.length === 1 ? ind.name : meta.outputs.map(o => ind.name + '.' + o).join(', '))}</div></div>`;
}
function renderMarket() {
  const ds = META.datasets.filter(d => d.exchange === state.exchange && d.timeframe === state.timeframe);
  const exchanges = [...new Set(META.datasets.map(d => d.exchange))];
  const tfs = [...new Set(META.datasets.filter(d => d.exchange === state.exchange).map(d => d.timeframe))];
  $('#market').innerHTML = `<div class="row">
    <label>name<input class="wide" data-bind="name" value="${esc(state.name)}" data-path="name"></label>
    <label>description<input class="wide" data-bind="description" value="${esc(state.description)}"></label></div>
    <div class="row"><label>exchange<select data-bind="exchange">${exchanges.map(e => opt(e, e, e === state.exchange)).join('')}</select></label>
    <label>timeframe<select data-bind="timeframe" data-path="timeframe">${tfs.map(t => opt(t, t, t === state.timeframe)).join('')}</select></label>
    <label>risk profile<select data-bind="risk_profile">${opt('', 'none', !state.risk_profile)}${META.risk_profiles.map(p => opt(p, p, p === state.risk_profile)).join('')}</select></label></div>
    <div class="chips" data-path="symbols">${ds.map(d => `<label class="chip"><input type="checkbox" data-symbol="${esc(d.symbol)}"
      ${state.symbols.includes(d.symbol) ? 'checked' : ''}>${esc(d.symbol)}</label>`).join('') || '<span class="muted">no data for this timeframe in the catalog</span>'}</div>`;
}
function render() {
  toDoc(state);  // assigns each condition node its document path
  renderMarket();
  $('#indicators').innerHTML = state.indicators.map(indicatorHtml).join('') ||
    '<div class="muted">no indicator yet: conditions can read bar fields, or add one</div>';
  $('#entry').innerHTML = `<div class="row"><label>side<select data-bind="entry.side" data-path="entry.side">
      ${opt('long', 'long', state.entry.side === 'long')}${opt('short', 'short', state.entry.side === 'short')}</select></label></div>
    <div class="hint">enter when</div>${nodeHtml(state.entry.when, 'entry.when')}`;
  const ex = state.exit;
  $('#exit').innerHTML = `<div data-path="exit"><label class="chip" style="width:max-content"><input type="checkbox" data-bind="exit.use_when" ${ex.use_when ? 'checked' : ''}> exit when a condition holds</label>
    ${ex.use_when ? nodeHtml(ex.when, 'exit.when') : ''}
    <div class="row"><label>stop-loss (0.02 = 2 % under the decision close)<input type="number" step="any" min="0" data-bind="exit.stop_loss" value="${esc(ex.stop_loss)}" data-path="exit.stop_loss"></label>
    <label>trailing stop<input type="number" step="any" min="0" data-bind="exit.trailing_stop" value="${esc(ex.trailing_stop)}" data-path="exit.trailing_stop"></label>
    <label>time stop (bars)<input type="number" step="1" min="1" data-bind="exit.time_stop" value="${esc(ex.time_stop)}" data-path="exit.time_stop"></label></div>
    <div class="hint">take-profit ladder (distance above the decision close, share of the position)</div>
    ${ex.take_profit.map((t, i) => `<div class="row" data-path="exit.take_profit.${i}"><label>at<input type="number" step="any" data-bind="exit.take_profit.${i}.at" value="${esc(t.at)}" data-path="exit.take_profit.${i}.at"></label>
      <label>fraction<input type="number" step="any" data-bind="exit.take_profit.${i}.fraction" value="${esc(t.fraction)}" data-path="exit.take_profit.${i}.fraction"></label>
      <button class="small remove" data-act="del-tp" data-key="${i}">remove</button></div>`).join('')}
    <button class="small" data-act="add-tp">+ take-profit level</button></div>`;
  const sz = state.sizing;
  $('#sizing').innerHTML = `<div class="row" data-path="sizing"><label>kind<select data-bind="sizing.kind">${Object.keys(META.sizing).map(k => opt(k, k.replace('_', ' '), k === sz.kind)).join('')}</select></label>
    ${Object.keys(META.sizing[sz.kind]).map(k => `<label>${esc(k)}<input ${k === 'model' ? 'class="wide"' : 'type="number" step="any"'} data-bind="sizing.${k}" value="${esc(sz[k])}" data-path="sizing.${k}"></label>`).join('')}</div>`;
  scheduleValidate(0);
}

// ---------------------------------------------------------------- editing
function getAt(obj, key) { return key.split('.').reduce((o, k) => o[k], obj); }
function setAt(obj, key, value) {
  const parts = key.split('.'), last = parts.pop();
  parts.reduce((o, k) => o[k], obj)[last] = value;
}
document.addEventListener('change', ev => {
  const el = ev.target;
  if (el.dataset.symbol) {
    const s = el.dataset.symbol;
    state.symbols = el.checked ? [...new Set([...state.symbols, s])].sort() : state.symbols.filter(x => x !== s);
    return scheduleValidate();
  }
  const key = el.dataset.bind;
  if (!key) return;
  const value = el.type === 'checkbox' ? el.checked : el.value;
  if (key.endsWith('.ref')) {
    const o = getAt(state, key.slice(0, -4));
    if (value === '#num') { o.kind = 'num'; } else { o.kind = 'ref'; o.ref = value; }
    return render();
  }
  setAt(state, key, value);
  if (/^indicators\.\d+\.kind$/.test(key)) {
    const ind = state.indicators[Number(key.split('.')[1])];
    ind.params = {}; ind.source = 'close';
    ind.params = defaults(value);
    return render();
  }
  if (key === 'sizing.kind') {
    state.sizing = {kind: value};
    for (const [k, v] of Object.entries(META.sizing[value])) state.sizing[k] = String(v);
    return render();
  }
  if (/\.(negate|mode)$/.test(key) || key === 'exit.use_when' || key === 'exchange' || key === 'timeframe'
      || /^indicators\.\d+\.name$/.test(key)) return render();
  scheduleValidate();
});
document.addEventListener('input', ev => {
  const key = ev.target.dataset.bind;
  if (!key || ev.target.tagName === 'SELECT' || ev.target.type === 'checkbox') return;
  setAt(state, key, ev.target.value);
  scheduleValidate();
});
function defaults(kind) {  // a required period starts at 14; optional ones at their default
  const params = {};
  for (const p of META.indicators[kind].params) {
    if (p.required) params[p.name] = p.type === 'int' ? '14' : '';
    else if (p.default !== null) params[p.name] = String(p.default);
  }
  return params;
}
function freeName(base) { let i = 1; while (state.indicators.some(x => x.name === `${base}${i}`)) i++; return `${base}${i}`; }
document.addEventListener('click', ev => {
  const btn = ev.target.closest('button[data-act]');
  if (!btn) return;
  const act = btn.dataset.act, key = btn.dataset.key;
  if (act === 'add-ind') {
    state.indicators.push({name: freeName('ind'), kind: 'sma', source: 'close', params: defaults('sma')});
  } else if (act === 'del-ind') {
    state.indicators.splice(Number(key), 1);
  } else if (act === 'add-tp') {
    state.exit.take_profit.push({at: '0.02', fraction: '1.0'});
  } else if (act === 'del-tp') {
    state.exit.take_profit.splice(Number(key), 1);
  } else if (act === 'add-cmp' || act === 'add-group') {
    getAt(state, key).children.push(act === 'add-cmp' ? cmp('close', '>', {num: 0}) : group('all'));
  } else if (act === 'wrap') {
    const node = getAt(state, key), g = group('all');
    g.children = [node];
    setAt(state, key, g);
  } else if (act === 'del') {
    const parts = key.split('.'), index = Number(parts.pop());
    parts.pop();
    const parent = getAt(state, parts.join('.'));
    parent.children.splice(index, 1);
    if (!parent.children.length) parent.children.push(cmp('close', '>', {num: 0}));
  } else {
    return;
  }
  render();
});

// ---------------------------------------------------------------- server
async function api(path, body) {
  const init = body === undefined ? {credentials: 'same-origin'} : {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)};
  const resp = await fetch(path, init);
  let data;
  try { data = await resp.json(); } catch (e) { data = {ok: false, error: `${resp.status} ${resp.statusText}`}; }
  return data;
}
function scheduleValidate(delay = 250) {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, delay);
}
async function validate() {
  const mine = ++seq;
  const result = await api('/api/builder/validate', {document: toDoc(state)});
  if (mine !== seq) return;  // a newer edit is on its way
  lastCheck = result;
  $('#toml').textContent = result.toml || '';
  showProblems(result.problems || (result.error ? [{path: '', message: result.error}] : []));
  const ok = !!result.ok;
  $('#verdict').textContent = ok ? 'valid rule set' : `${(result.problems || []).length} problem(s)`;
  $('#verdict').className = 'status ' + (ok ? 'ok' : 'bad');
  $('#save').disabled = $('#run').disabled = !ok;
}
function fieldFor(path) {
  let p = path;
  while (p) {
    const el = document.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
    p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '';
  }
  return null;
}
function showProblems(problems) {
  document.querySelectorAll('.err').forEach(e => e.remove());
  document.querySelectorAll('.invalid').forEach(e => e.classList.remove('invalid'));
  const list = $('#problems');
  list.innerHTML = problems.map((p, i) => `<li data-i="${i}"><code>${esc(p.path || '(file)')}</code> ${esc(p.message)}</li>`).join('');
  problems.forEach((p, i) => {
    const el = fieldFor(p.path);
    if (!el) return;
    el.classList.add('invalid');
    const msg = document.createElement('div');
    msg.className = 'err'; msg.dataset.for = p.path; msg.textContent = p.message;
    if (/^(INPUT|SELECT)$/.test(el.tagName)) (el.closest('label') || el).after(msg);
    else el.prepend(msg);  // a section or a condition: the explanation goes on top of it
    list.children[i].onclick = () => el.scrollIntoView({behavior: 'smooth', block: 'center'});
  });
}
async function loadFiles(select) {
  const data = await api('/api/builder/files');
  $('#files').innerHTML = (data.files || []).map(f => opt(`${f.source}/${f.name}`, `${f.source}/${f.name}`, `${f.source}/${f.name}` === select)).join('');
}
async function loadFile() {
  const [source, name] = $('#files').value.split('/');
  const data = await api(`/api/builder/file?source=${encodeURIComponent(source)}&name=${encodeURIComponent(name)}`);
  if (!data.ok) return setStatus(data.error || 'cannot load', false);
  state = fromDoc(data.document);
  state.exchange = 'binance';
  $('#filename').value = name.replace(/\.toml$/, '');
  render();
  setStatus(`loaded ${source}/${name}`, true);
}
function setStatus(text, ok) { const s = $('#status'); s.textContent = text; s.className = 'status ' + (ok ? 'ok' : 'bad'); }
async function save() {
  const name = $('#filename').value.trim();
  const data = await api('/api/builder/save', {document: toDoc(state), name});
  if (!data.ok) { showProblems(data.problems || []); return setStatus(data.error || 'not saved: fix the problems', false); }
  await loadFiles(`rules/${data.file.name}`);
  setStatus(`saved ${data.path}`, true);
}
const SHOWN = ['total_return', 'cagr', 'sharpe', 'sortino', 'max_drawdown', 'win_rate', 'profit_factor', 'n_trades', 'exposure_time', 'fees_paid', 'final_equity'];
function fmt(k, v) {
  if (v === null || v === undefined) return 'n/a';
  if (/return|drawdown|rate|exposure|cagr/.test(k)) return (100 * v).toFixed(2) + ' %';
  if (k.startsWith('n_')) return String(Math.round(v));
  return Number(v).toLocaleString('en-US', {maximumFractionDigits: 4});
}
async function run() {
  const btn = $('#run');
  btn.disabled = true; setStatus('backtesting on the catalog…', true);
  const t0 = performance.now();
  const data = await api('/api/builder/backtest', {document: toDoc(state), start: $('#start').value, end: $('#end').value, exchange: state.exchange});
  btn.disabled = false;
  if (!data.ok) { showProblems(data.problems || []); return setStatus(data.error || 'backtest failed', false); }
  $('#metrics').innerHTML = '<table>' + SHOWN.map(k => `<tr><td>${esc(k.replace(/_/g, ' '))}</td><td class="v" data-metric="${k}">${esc(fmt(k, data.metrics[k]))}</td></tr>`).join('') +
    `<tr><td>fills</td><td class="v" data-metric="fills">${data.fills}</td></tr></table><div class="hint">${esc(data.note)}</div>`;
  const frame = $('#report');
  frame.hidden = false;
  frame.src = data.report_url;
  setStatus(`backtest done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${data.trades} trades`, true);
}
async function boot() {
  META = await api('/api/builder/meta');
  if (META.error) return setStatus(META.error, false);
  state = starter();
  const first = META.datasets.find(d => d.symbol === 'BTC/USDT' && d.timeframe === '1h') || META.datasets[0];
  if (first) { state.exchange = first.exchange; state.timeframe = first.timeframe; state.symbols = [first.symbol]; }
  $('#rulesdir').textContent = META.rules_dir || '(no rules folder)';
  await loadFiles();
  render();
  document.body.dataset.ready = '1';
}
$('#load').onclick = loadFile;
$('#save').onclick = save;
$('#run').onclick = run;
$('#new').onclick = () => { state = starter(); render(); setStatus('new rule set', true); };
boot();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tradeloom strategy builder</title><style>{css}</style></head>
<body><header><h1>tradeloom · strategy builder</h1>
<span class="muted">rule files: conditions on indicators, exits, sizing; one meaning in the event engine and the kernels</span>
<a href="/">status page</a></header>
<main><div class="col">
<section class="card"><h2>Rule file</h2><div class="row">
<label>load<select id="files" aria-label="rule files"></select></label><button id="load">Load</button>
<button id="new">New</button></div>
<div class="row"><label>save as<input id="filename" class="wide" value="my_rules"></label>
<button id="save" class="primary" disabled>Save</button></div>
<div class="hint">saved as &lt;name&gt;.toml in <span id="rulesdir"></span></div></section>
<section class="card"><h2>Market</h2><div id="market"></div></section>
<section class="card"><h2>Indicators</h2><div id="indicators"></div>
<button id="add-ind" data-act="add-ind">+ indicator</button></section>
<section class="card"><h2>Entry</h2><div id="entry"></div></section>
<section class="card"><h2>Exit</h2><div id="exit"></div></section>
<section class="card"><h2>Sizing</h2><div id="sizing"></div></section>
</div><div class="col">
<section class="card"><h2>Check</h2><div id="verdict" class="status"></div><ul id="problems"></ul></section>
<section class="card"><h2>The rule file (TOML)</h2><pre id="toml"></pre></section>
<section class="card"><h2>Backtest on the catalog</h2><div class="row">
<label>from<input id="start" type="date" value="2021-01-01"></label>
<label>to<input id="end" type="date" value=""></label>
<button id="run" class="primary" disabled>Run backtest</button></div>
<div id="status" class="status"></div><div id="metrics"></div></section>
</div></main>
<div style="padding:0 20px 20px"><iframe id="report" title="backtest report" hidden></iframe></div>
<script>{js}</script></body></html>
"""


def render_builder() -> str:
    """The builder page (static: everything it shows comes from ``/api/builder``)."""
    return _PAGE.replace("{css}", _CSS).replace("{js}", _JS)
