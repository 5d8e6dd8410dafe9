// Dashboard panels: each /api/dashboard panel drawn by its "chart" kind with Chart.js (line,
// bar, hbar, doughnut), or as a table or big figures (stat). A Panel is created once per panel
// name and updated in place on every refresh, so charts do not flicker or lose legend state.
//
// Every drawn element (canvas, table, figures) carries data-panel="<name>" and data-kind, and,
// once drawn with data, data-points="N": the number of data points (or table rows, or figures)
// drawn. It is absent while the panel has no data.

import { h, toNumber, parseTime, fmtCompact, fmtNum, fmtTime, rowsTable, isTimeType } from './util.js';

const Chart = window.Chart;
if (Chart) {
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.documentElement).getPropertyValue('--font').trim() || 'system-ui, sans-serif';
  Chart.defaults.color = '#4b5563';
  Chart.defaults.borderColor = '#e5e7eb';
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.legend.labels.boxHeight = 12;
}

// PALETTE colours datasets (or doughnut slices) in order; OTHER_COLOUR is the "other" bucket.
export const PALETTE = ['#4f7cff', '#f2994a', '#27ae60', '#eb5757', '#9b51e0', '#2d9cdb', '#e2b93b', '#16a085', '#d35d9e', '#6c7a89'];
const OTHER_COLOUR = '#b8bec8';
// MAX_SERIES is the number of series (or slices, or bars) drawn before the rest is summed as "other".
const MAX_SERIES = 10;

const CHART_KINDS = new Set(['line', 'bar', 'hbar', 'doughnut']);

// Panel is one dashboard panel: a card with a title, an error line and a body drawn by kind. The
// constructor builds the card; update draws it (call it once the card is in the document, so
// that a chart is sized by its container).
export class Panel {
  constructor(p) {
    this.name = p.name;
    this.kind = p.chart;
    this.chart = null;
    this.shape = '';
    this.title = h('h3.panel-title');
    this.error = h('div.panel-error', { hidden: true });
    this.empty = h('div.panel-empty', { hidden: true }, 'no data yet');
    this.body = h('div.panel-body');
    this.el = h('section.panel', { 'data-kind': this.kind, id: `panel-${p.name}` }, this.title, this.error, h('div.panel-frame', null, this.body, this.empty));
    if (CHART_KINDS.has(this.kind)) {
      this.canvas = h('canvas', { 'data-panel': p.name, 'data-kind': this.kind, role: 'img', 'aria-label': p.title || p.name });
      this.body.append(this.canvas);
    }
  }

  // update redraws the panel from a fresh /api/dashboard panel of the same name and kind.
  update(p) {
    this.title.textContent = p.title || p.name;
    if (p.error) {
      this.error.hidden = false;
      this.error.textContent = p.error;
      this.error.title = p.error;
    } else {
      this.error.hidden = true;
    }
    if (p.error && !(p.rows && p.rows.length)) {
      // Keep what was last drawn (stale data beats no data); the error line says why it did not
      // refresh.
      this.empty.hidden = true;
      return;
    }
    let points = 0;
    try {
      switch (this.kind) {
        case 'line':
        case 'bar':
        case 'hbar':
        case 'doughnut':
          points = this.drawChart(p);
          break;
        case 'stat':
          points = this.drawStat(p);
          break;
        default:
          points = this.drawTable(p);
      }
    } catch (err) {
      this.error.hidden = false;
      this.error.textContent = `cannot draw this panel: ${err.message}`;
      return;
    }
    this.drawn = points > 0;
    this.empty.hidden = points > 0 || !!p.error;
    const target = this.canvas || this.body.firstElementChild;
    if (target) {
      if (points > 0) target.dataset.points = String(points);
      else delete target.dataset.points;
    }
  }

  destroy() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }

  drawChart(p) {
    if (!Chart) throw new Error('Chart.js is not loaded');
    const model = chartModel(p);
    const cfg = chartConfig(p, model);
    // A chart is updated in place while its shape (type, axis kind, stacking) stays; datasets are
    // matched by label so that series hidden from the legend stay hidden.
    if (this.chart && this.shape === model.shape) {
      const old = this.chart.data.datasets;
      this.chart.data.labels = cfg.data.labels;
      this.chart.data.datasets = cfg.data.datasets.map((ds) => {
        const prev = old.find((o) => o.label === ds.label);
        return prev ? Object.assign(prev, ds) : ds;
      });
      this.chart.options = cfg.options;
      this.chart.update('none');
    } else {
      if (this.chart) this.chart.destroy();
      this.chart = new Chart(this.canvas, cfg);
      this.shape = model.shape;
    }
    return model.points;
  }

  drawStat(p) {
    const row = (p.rows || [])[0];
    const names = p.y && p.y.length ? p.y : (p.columns || []).map((c) => c.name);
    const box = h('div.stats', { 'data-panel': p.name, 'data-kind': 'stat' });
    let points = 0;
    if (row) {
      for (const name of names) {
        const v = row[name];
        if (v != null) points++;
        const n = toNumber(v);
        box.append(h('div.stat', null,
          h('div.stat-value', { title: v == null ? 'null' : String(v) }, n == null ? (v == null ? '–' : String(v)) : fmtStat(n)),
          h('div.stat-label', null, humanize(name))));
      }
    }
    this.body.replaceChildren(box);
    return points;
  }

  drawTable(p) {
    const wrap = h('div.table-wrap', { 'data-panel': p.name, 'data-kind': 'table' }, rowsTable(p.columns, p.rows, { max: 200, className: 'compact', readable: true }));
    const old = this.body.querySelector('.table-wrap');
    if (old) wrap.scrollTop = old.scrollTop;
    this.body.replaceChildren(wrap);
    return (p.rows || []).length;
  }
}

// fmtStat formats a figure: exact below a million, compact above.
function fmtStat(n) {
  return Math.abs(n) < 1e6 ? fmtNum(n) : fmtCompact(n);
}

// humanize turns a column name into a label: "total_revenue" -> "total revenue".
export function humanize(name) {
  return String(name).replace(/_/g, ' ');
}

// chartModel turns a panel's rows into labels and datasets. With a time x column on a line chart,
// points are {x: epoch ms, y}; otherwise x values become category labels. With "series", one
// dataset per distinct series value of the first y column (the largest MAX_SERIES kept, the rest
// summed as "other"); without, one dataset per y column.
export function chartModel(p) {
  const rows = p.rows || [];
  const columns = p.columns || [];
  const x = p.x || (columns[0] && columns[0].name);
  let ys = p.y && p.y.length ? p.y : columns.filter((c) => c.name !== x && c.name !== p.series).slice(0, 1).map((c) => c.name);
  const xcol = columns.find((c) => c.name === x);
  const timeX = (xcol ? isTimeType(xcol.type) : false) || (rows.length > 0 && rows.every((r) => r[x] == null || parseTime(r[x]) != null) && rows.some((r) => parseTime(r[x]) != null));
  const linearTime = p.chart === 'line' && timeX;
  const stacked = !!p.series && (p.chart === 'bar' || p.chart === 'hbar');

  // groups: label -> Map(xKey -> y)
  const groups = new Map();
  const xKeys = [];
  const seenX = new Set();
  const addPoint = (label, xv, yv) => {
    if (!groups.has(label)) groups.set(label, new Map());
    const g = groups.get(label);
    g.set(xv, (g.get(xv) || 0) + yv);
  };
  for (const r of rows) {
    const xv = r[x] == null ? null : (linearTime ? parseTime(r[x]) : String(r[x]));
    if (xv == null) continue;
    if (!seenX.has(xv)) {
      seenX.add(xv);
      xKeys.push(xv);
    }
    if (p.series) {
      const yv = toNumber(r[ys[0]]);
      if (yv == null) continue;
      addPoint(r[p.series] == null ? 'null' : String(r[p.series]), xv, yv);
    } else {
      for (const y of ys) {
        const yv = toNumber(r[y]);
        if (yv != null) addPoint(y, xv, yv);
      }
    }
  }
  if (p.chart === 'doughnut') {
    return doughnutModel(groups, ys, xKeys, timeX, p.series);
  }

  // Keep the MAX_SERIES largest series; sum the rest as "other".
  let labels = [...groups.keys()];
  if (p.series && labels.length > MAX_SERIES) {
    const total = (l) => [...groups.get(l).values()].reduce((a, b) => a + Math.abs(b), 0);
    labels.sort((a, b) => total(b) - total(a));
    const other = new Map();
    for (const l of labels.slice(MAX_SERIES)) {
      for (const [k, v] of groups.get(l)) other.set(k, (other.get(k) || 0) + v);
    }
    labels = labels.slice(0, MAX_SERIES);
    groups.set('other', other);
    labels.push('other');
  } else if (!p.series) {
    labels = ys.filter((y) => groups.has(y));
  } else {
    labels.sort();
  }

  if (linearTime) xKeys.sort((a, b) => a - b);
  else if (timeX) xKeys.sort((a, b) => parseTime(a) - parseTime(b));
  let points = 0;
  const datasets = labels.map((label, i) => {
    const g = groups.get(label);
    const colour = label === 'other' ? OTHER_COLOUR : PALETTE[i % PALETTE.length];
    let data;
    if (linearTime) {
      data = [...g.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => ({ x: k, y: v }));
      points += data.length;
    } else {
      data = xKeys.map((k) => (g.has(k) ? g.get(k) : null));
      points += data.filter((v) => v != null).length;
    }
    return { label: p.series ? label : humanize(label), data, colour };
  });
  const span = linearTime && xKeys.length ? xKeys[xKeys.length - 1] - xKeys[0] : 0;
  const catLabels = linearTime ? undefined : xKeys.map((k) => (timeX ? fmtTimeLabel(parseTime(k), spanOf(xKeys)) : k));
  return {
    kind: p.chart, timeX, linearTime, stacked, span, labels: catLabels, datasets, points,
    rawX: xKeys, shape: `${p.chart}|${linearTime}|${stacked}`, yName: ys[0],
  };
}

function doughnutModel(groups, ys, xKeys, timeX, series) {
  // One slice per x value (summed over series) of the first y column.
  const totals = new Map();
  for (const g of groups.values()) {
    for (const [k, v] of g) totals.set(k, (totals.get(k) || 0) + v);
  }
  let keys = xKeys.filter((k) => totals.has(k));
  keys.sort((a, b) => totals.get(b) - totals.get(a));
  let other = 0;
  if (keys.length > MAX_SERIES) {
    for (const k of keys.slice(MAX_SERIES)) other += totals.get(k);
    keys = keys.slice(0, MAX_SERIES);
  }
  const labels = keys.map((k) => (timeX ? fmtTime(parseTime(k)) : k));
  const data = keys.map((k) => totals.get(k));
  const colours = keys.map((_, i) => PALETTE[i % PALETTE.length]);
  if (other) {
    labels.push('other');
    data.push(other);
    colours.push(OTHER_COLOUR);
  }
  return {
    kind: 'doughnut', labels, points: data.length, shape: 'doughnut', series,
    datasets: [{ label: humanize(ys[0] || ''), data, colour: colours }],
  };
}

function spanOf(keys) {
  const ts = keys.map(parseTime).filter((t) => t != null);
  return ts.length ? Math.max(...ts) - Math.min(...ts) : 0;
}

const pad = (n) => String(n).padStart(2, '0');

// fmtTimeLabel labels a time for an axis spanning span milliseconds with ticks step apart: the
// clock (with seconds when the step is under a minute) within two days, the date beyond.
function fmtTimeLabel(ms, span, step = span) {
  if (ms == null) return '';
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const isMidnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
  if (span > 2 * 86400e3 || (isMidnight && span >= 86400e3)) return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step < 60e3 || span < 180e3) return `${hm}:${pad(d.getSeconds())}`;
  return hm;
}

// TIME_STEPS are the tick spacings of a time axis, in milliseconds.
const TIME_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map((s) => s * 1000);

// timeStep picks the tick spacing of a time axis: at most 8 ticks over span, and no finer than
// the data's own spacing (gap, the smallest distance between two points), so that minutes are
// not ticked every 30 s.
function timeStep(span, gap) {
  for (const st of TIME_STEPS) if (span / st <= 8 && st >= (gap || 0)) return st;
  return TIME_STEPS[TIME_STEPS.length - 1];
}

// minGap is the smallest distance between consecutive sorted numbers (0 when fewer than two).
function minGap(sorted) {
  let gap = Infinity;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] > sorted[i - 1]) gap = Math.min(gap, sorted[i] - sorted[i - 1]);
  return gap === Infinity ? 0 : gap;
}

// roundTimes lists the multiples of step (in local time) from min to max, epoch milliseconds.
function roundTimes(min, max, step) {
  if (!(max >= min) || !(step > 0)) return [];
  const offset = new Date(min).getTimezoneOffset() * 60e3;
  const out = [];
  for (let v = Math.ceil((min - offset) / step) * step + offset; v <= max && out.length < 200; v += step) out.push(v);
  return out;
}

function chartConfig(p, m) {
  const type = m.kind === 'hbar' ? 'bar' : m.kind;
  const datasets = m.datasets.map((d) => {
    const base = { label: d.label, data: d.data };
    if (m.kind === 'doughnut') return { ...base, backgroundColor: d.colour, borderColor: '#fff', borderWidth: 2 };
    if (m.kind === 'line') {
      const many = d.data.length > 40;
      return {
        ...base, borderColor: d.colour, backgroundColor: d.colour + '22', borderWidth: 2,
        pointRadius: many ? 0 : 2.5, pointHoverRadius: 4, tension: 0.25, spanGaps: true,
        fill: m.datasets.length === 1,
      };
    }
    return { ...base, backgroundColor: d.colour, borderColor: d.colour, borderRadius: 3, maxBarThickness: 42 };
  });
  const valueAxis = {
    beginAtZero: true, stacked: m.stacked,
    ticks: { callback: (v) => fmtCompact(v) },
    grid: { color: '#eef0f3' },
  };
  const legend = {
    display: m.kind === 'doughnut' || m.datasets.length > 1,
    position: m.kind === 'doughnut' ? 'right' : 'bottom',
  };
  const tooltip = { callbacks: {} };
  let scales = {};
  if (m.kind === 'doughnut') {
    tooltip.callbacks.label = (ctx) => ` ${ctx.label}: ${fmtNum(ctx.parsed)}`;
  } else if (m.linearTime) {
    // The axis spans the data exactly; ticks fall on round times (multiples of the step).
    const step = timeStep(m.span, minGap(m.rawX));
    const xs = m.rawX;
    scales = {
      x: {
        type: 'linear', grid: { display: false },
        min: xs.length ? xs[0] : undefined,
        max: xs.length ? xs[xs.length - 1] : undefined,
        afterBuildTicks: (axis) => {
          axis.ticks = roundTimes(axis.min, axis.max, step).map((value) => ({ value }));
        },
        ticks: {
          maxRotation: 0, autoSkip: true,
          display: xs.length > 0, callback: (v) => fmtTimeLabel(v, m.span, step),
        },
      },
      y: valueAxis,
    };
    tooltip.callbacks.title = (items) => (items.length ? fmtTime(items[0].parsed.x) : '');
    tooltip.callbacks.label = (ctx) => ` ${ctx.dataset.label}: ${fmtNum(ctx.parsed.y)}`;
  } else {
    const catAxis = { grid: { display: false }, stacked: m.stacked, ticks: { autoSkip: true, maxRotation: 0 } };
    if (m.kind === 'hbar') {
      scales = { y: catAxis, x: valueAxis };
      tooltip.callbacks.label = (ctx) => ` ${ctx.dataset.label}: ${fmtNum(ctx.parsed.x)}`;
    } else {
      scales = { x: catAxis, y: valueAxis };
      tooltip.callbacks.label = (ctx) => ` ${ctx.dataset.label}: ${fmtNum(ctx.parsed.y)}`;
    }
  }
  return {
    type,
    data: { labels: m.labels, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      indexAxis: m.kind === 'hbar' ? 'y' : 'x',
      interaction: { mode: m.kind === 'doughnut' ? 'point' : 'nearest', axis: m.kind === 'hbar' ? 'y' : 'x', intersect: false },
      plugins: { legend, tooltip },
      scales,
      cutout: m.kind === 'doughnut' ? '58%' : undefined,
    },
  };
}
