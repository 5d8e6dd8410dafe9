// Shared helpers of the dashboard: DOM construction, the JSON API client and value formatting.
// Everything here is free of page state.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an HTML element. tag is "name.class1.class2"; props are attributes, except "text"
// (textContent), "class" (appended classes), "value" (the property) and on* (listeners). Null,
// undefined and false props and children are skipped; other children are appended as nodes or
// text.
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

// s builds an SVG element, with the props of h.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'class') el.setAttribute('class', ((el.getAttribute('class') || '') + ' ' + v).trim());
    else if (k === 'value') el.value = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function appendChildren(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// ApiError is a failed API call: status is the HTTP status (0 when the server was unreachable)
// and message the server's {"error": ...} text when it sent one.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

// api calls a JSON endpoint of the server and returns the decoded body. A non-2xx answer
// throws ApiError with the server's error message; an aborted signal throws the AbortError.
export async function api(path, { method = 'GET', body, signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      signal,
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `${method} ${path}: server unreachable (${err.message})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      if (res.ok) throw new ApiError(res.status, `${method} ${path}: answer is not JSON`);
    }
  }
  if (!res.ok) {
    const msg = data && data.error ? data.error : (text.trim() || res.statusText);
    throw new ApiError(res.status, `${msg} (HTTP ${res.status})`);
  }
  return data;
}

// isAbort tells whether err comes from an aborted request (a page left before it answered).
export function isAbort(err) {
  return err && err.name === 'AbortError';
}

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const numFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

// toNumber converts an API value to a number: numbers as they are, numeric strings (int64 beyond
// 2^53 and decimals may come as strings) parsed; anything else is null.
export function toNumber(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

// fmtNum formats a number for reading: integers with separators, others with 2 decimals.
export function fmtNum(v) {
  const n = toNumber(v);
  if (n == null) return v == null ? '–' : String(v);
  return Number.isInteger(n) ? intFmt.format(n) : numFmt.format(n);
}

// fmtCompact formats a number shortly (1.2K, 3.4M), for axes and stat figures.
export function fmtCompact(v) {
  const n = toNumber(v);
  if (n == null) return '–';
  return Math.abs(n) < 10000 ? fmtNum(Math.round(n * 100) / 100) : compactFmt.format(n);
}

// fmtBytes formats a byte count with binary units.
export function fmtBytes(n) {
  n = toNumber(n);
  if (n == null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

// fmtLatency formats a latency in seconds: "4 s" below two minutes, then "3.5 min", "2.1 h",
// "3.0 d". The text always carries the unit so that a reader (or a test) can parse it back.
export function fmtLatency(seconds) {
  const v = toNumber(seconds);
  if (v == null) return '–';
  if (v < 10) return `${Math.round(v * 10) / 10} s`;
  if (v < 120) return `${Math.round(v)} s`;
  if (v < 7200) return `${(v / 60).toFixed(1)} min`;
  if (v < 172800) return `${(v / 3600).toFixed(1)} h`;
  return `${(v / 86400).toFixed(1)} d`;
}

// fmtMs formats a duration in milliseconds.
export function fmtMs(ms) {
  const v = toNumber(ms);
  if (v == null) return '–';
  if (v < 1000) return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
  return fmtLatency(v / 1000);
}

// parseTime parses an RFC 3339 timestamp or a YYYY-MM-DD date into epoch milliseconds (null if
// it is neither). Dates are read as local midnight so that they label as the same day.
export function parseTime(v) {
  if (typeof v !== 'string') return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const [y, m, d] = v.split('-').map(Number);
    return new Date(y, m - 1, d).getTime();
  }
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(v)) return null;
  const t = Date.parse(v.replace(' ', 'T'));
  return Number.isNaN(t) ? null : t;
}

const pad = (n) => String(n).padStart(2, '0');

// fmtTime formats epoch milliseconds as local "YYYY-MM-DD HH:MM:SS".
export function fmtTime(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtClock formats epoch milliseconds as local "HH:MM:SS".
export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtAgo formats an RFC 3339 time as its age ("12 s ago"), relative to the browser's clock.
export function fmtAgo(rfc3339) {
  const t = parseTime(rfc3339);
  if (t == null) return '–';
  return `${fmtLatency(Math.max(0, (Date.now() - t) / 1000))} ago`;
}

// cellText renders one value of an /api/sql row as text.
export function cellText(v) {
  if (v == null) return null;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// freshnessState classifies a table's freshness against its SLA: "ok", "late" or "unknown".
export function freshnessState(seconds, sla) {
  const v = toNumber(seconds);
  if (v == null) return 'unknown';
  const limit = toNumber(sla);
  return limit == null || v <= limit ? 'ok' : 'late';
}

// freshnessBadge builds the badge of one table: "name · 4 s", green within the SLA, red past it,
// grey when unknown. It carries data-table, data-seconds (empty when unknown) and data-state.
export function freshnessBadge(table, seconds, sla, { label = table } = {}) {
  const el = h('span.badge');
  updateFreshnessBadge(el, table, seconds, sla, label);
  return el;
}

// updateFreshnessBadge rewrites a badge made by freshnessBadge in place.
export function updateFreshnessBadge(el, table, seconds, sla, label = table) {
  const state = freshnessState(seconds, sla);
  const v = toNumber(seconds);
  el.dataset.table = table;
  el.dataset.seconds = v == null ? '' : String(Math.round(v * 1000) / 1000);
  el.dataset.state = state;
  el.textContent = `${label} · ${v == null ? 'unknown' : fmtLatency(v)}`;
  const limit = toNumber(sla);
  el.title = v == null
    ? `${table}: freshness unknown (no data committed yet)`
    : `${table}: newest data is ${fmtLatency(v)} old; the SLA is ${limit == null ? 'not set' : fmtLatency(limit)}`;
}

// rowsTable renders an /api/sql answer ({columns, rows}) as a table. Numbers are right-aligned;
// nulls shown as a grey "null". At most max rows are drawn. With readable, timestamps are shown in
// local time and numbers (but identifiers: *_id) with separators (the exact value in the cell's tooltip); otherwise
// values are shown exactly as the API sent them.
export function rowsTable(columns, rows, { max = 1000, className = '', readable = false } = {}) {
  columns = columns || [];
  rows = rows || [];
  const numeric = columns.map((c) => isNumericType(c.type));
  const times = columns.map((c) => readable && /^timestamp/i.test(String(c.type || '')));
  const head = h('thead', null, h('tr', null, columns.map((c) => h('th', { title: c.type || '' }, c.name))));
  const body = h('tbody');
  for (const row of rows.slice(0, max)) {
    const tr = h('tr');
    columns.forEach((c, i) => {
      const v = row[c.name];
      let text = cellText(v);
      let exact = null;
      if (times[i] && text != null && parseTime(text) != null) {
        exact = text;
        text = fmtTime(parseTime(text));
      } else if (readable && numeric[i] && !/(^|_)id$/i.test(c.name) && toNumber(v) != null) {
        exact = text;
        text = fmtNum(v);
      }
      tr.append(text == null ? h('td.null', null, 'null') : h(numeric[i] ? 'td.num' : 'td', { title: exact !== text ? exact : null }, text));
    });
    body.append(tr);
  }
  return h('table', { class: ('data ' + className).trim() }, head, body);
}

// isNumericType tells whether a column type text (DuckDB or Arrow spelling) is numeric.
export function isNumericType(type) {
  return /^(tinyint|smallint|integer|int|bigint|hugeint|utinyint|usmallint|uinteger|ubigint|uhugeint|float|double|real|decimal|numeric|long|short|byte|int\d+|uint\d+|float\d+)/i.test(String(type || '').trim());
}

// isTimeType tells whether a column type text is a date or timestamp.
export function isTimeType(type) {
  return /^(timestamp|date|datetime)/i.test(String(type || '').trim());
}
