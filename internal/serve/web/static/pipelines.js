// The pipelines page (/pipelines): the DAG of /api/pipelines (sources and flows as boxes in
// columns by depth: topics and files, then bronze, silver, gold; inputs as edges) and a table of
// the flows' counters and expectation results.

import { h, s, api, fmtNum, fmtMs, fmtLatency, fmtAgo, toNumber } from './util.js';

// Layout of the DAG, in pixels: boxes are NODE_W wide and COL_GAPS[0] apart, both shrunk (down
// to MIN_NODE_W and the last gap) so that the columns fit the page's width; narrower pages
// scroll the DAG sideways.
const NODE_W = 220;
const MIN_NODE_W = 160;
const COL_GAPS = [56, 48, 40, 32];
const NODE_H = 84;
const SRC_H = 48;
const ROW_GAP = 18;
const HEAD_H = 28;

// TABLE_KINDS are the flow kinds that are tables (a node of that kind links to its table page).
const TABLE_KINDS = new Set(['streaming_table', 'materialized_view', 'table']);

// mount draws the pipelines page into root and returns its page handle (see app.js).
export function mount(root) {
  const summary = h('div.summary');
  const error = h('div.error-box', { hidden: true });
  const dagCanvas = h('div.dag-canvas');
  const dag = h('div.dag', { id: 'dag' }, dagCanvas);
  const tableBox = h('div.table-wrap.flows-wrap');
  root.append(
    h('div.page-head', null, h('h1', null, 'Pipelines'), summary),
    error,
    h('section.card', null, h('h2', null, 'Data flow'), dag),
    h('section.card', null, h('h2', null, 'Flows'), tableBox),
  );

  // signature is the DAG's structure and box width last laid out; nodeEls its node boxes by id;
  // graph the last graph drawn.
  let signature = '';
  let nodeEls = new Map();
  let graph = null;

  // draw lays the DAG out again when its structure or the box width changed, then fills the boxes.
  function draw() {
    if (!graph) return;
    const size = boxSize(dag.clientWidth, graph);
    const sig = JSON.stringify([size, graph.nodes.map((n) => n.id), graph.edges]);
    if (sig !== signature) {
      signature = sig;
      nodeEls = layout(dagCanvas, graph, size.w, size.gap);
    }
    for (const n of graph.nodes) {
      const el = nodeEls.get(n.id);
      if (el) fillNode(el, n);
    }
    markEdges(dagCanvas, graph);
  }
  // The DAG is laid out again when its box changes width (window resized, scroll bar shown).
  let resizeTimer = null;
  let lastWidth = 0;
  const resizes = new ResizeObserver(() => {
    if (dag.clientWidth === lastWidth) return;
    lastWidth = dag.clientWidth;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 100);
  });
  resizes.observe(dag);

  async function refresh(signal) {
    let d;
    try {
      d = await api('/api/pipelines', { signal });
      error.hidden = true;
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      error.hidden = false;
      error.textContent = `Cannot load the pipelines: ${err.message}`;
      throw err;
    }
    const flows = d.flows || [];
    renderSummary(summary, flows, d.started);
    graph = buildGraph(flows);
    draw();
    tableBox.replaceChildren(flowsTable(flows));
    if (!flows.length) {
      signature = '';
      dagCanvas.replaceChildren(h('p.muted', null, 'This project declares no pipelines.'));
    }
  }

  return {
    refresh,
    unmount() {
      resizes.disconnect();
      clearTimeout(resizeTimer);
    },
  };
}

// boxSize picks the box width w and column gap that fit the graph's columns into width pixels:
// the widest gap that leaves boxes of at least NODE_W - 40, else the narrowest; w within
// [MIN_NODE_W, NODE_W].
function boxSize(width, graph) {
  const cols = Math.max(1, ...graph.nodes.map((n) => n.depth + 1));
  let fit = 0;
  let gap = COL_GAPS[0];
  for (gap of COL_GAPS) {
    fit = Math.floor((width - (cols - 1) * gap) / cols);
    if (fit >= NODE_W - 40) break;
  }
  return { w: Math.max(MIN_NODE_W, Math.min(NODE_W, fit || NODE_W)), gap };
}

function renderSummary(el, flows, started) {
  const by = (st) => flows.filter((f) => f.status === st).length;
  const rateIn = flows.filter((f) => isSourceReader(f)).reduce((a, f) => a + (toNumber(f.rate_in) || 0), 0);
  const failedExp = flows.reduce((a, f) => a + (f.expectations || []).reduce((b, e) => b + (toNumber(e.failed) || 0), 0), 0);
  el.replaceChildren(
    stat(fmtNum(flows.length), 'flows'),
    stat(fmtNum(by('running')), 'running', 'running'),
    stat(fmtNum(by('failed')), 'failed', by('failed') ? 'failed' : ''),
    stat(`${fmtNum(Math.round(rateIn))}/s`, 'ingest rate'),
    stat(fmtNum(failedExp), 'expectation failures', failedExp ? 'warn' : ''),
    started ? stat(fmtAgo(started).replace(' ago', ''), 'uptime') : null,
  );
}

function stat(value, label, cls = '') {
  return h('div.mini-stat', { class: cls }, h('b', null, value), h('span', null, label));
}

// isSourceReader tells whether a flow reads a topic or files (its rate_in is ingest).
function isSourceReader(f) {
  return (f.inputs || []).some((i) => /^(topic|files):/.test(i));
}

// buildGraph turns flows into nodes (flows, and their inputs that are not flows: topics, files,
// tables declared elsewhere) and edges, each node with its depth: 0 for sources, else one more
// than its deepest input.
export function buildGraph(flows) {
  const byName = new Map(flows.map((f) => [f.name, f]));
  const nodes = new Map();
  const edges = [];
  for (const f of flows) nodes.set(f.name, { id: f.name, flow: f });
  for (const f of flows) {
    for (const input of new Set(f.inputs || [])) {
      if (!byName.has(input) && !nodes.has(input)) nodes.set(input, { id: input, source: sourceOf(input) });
      edges.push([input, f.name]);
    }
  }
  const inputs = new Map([...nodes.keys()].map((k) => [k, []]));
  for (const [a, b] of edges) inputs.get(b).push(a);

  const depth = new Map();
  const visiting = new Set();
  const depthOf = (id) => {
    if (depth.has(id)) return depth.get(id);
    const n = nodes.get(id);
    if (n.source) {
      depth.set(id, 0);
      return 0;
    }
    if (visiting.has(id)) return 1; // a cycle: cut it
    visiting.add(id);
    let d = 1;
    for (const i of inputs.get(id)) d = Math.max(d, depthOf(i) + 1);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  for (const id of nodes.keys()) depthOf(id);
  const list = [...nodes.values()].map((n) => ({ ...n, depth: depth.get(n.id), inputs: inputs.get(n.id) }));
  return { nodes: list, edges };
}

// sourceOf describes an input that is not a flow; a long file path is shown by its last two
// segments (the folder and the pattern).
function sourceOf(input) {
  const m = /^(topic|files|file):(.*)$/.exec(input);
  const src = m ? { kind: m[1] === 'file' ? 'files' : m[1], label: m[2] } : { kind: 'table', label: input };
  const parts = src.label.split('/');
  if (src.kind === 'files' && src.label.length > 22 && parts.length > 2) src.label = '…/' + parts.slice(-2).join('/');
  return src;
}

// layout places the nodes in columns by depth (boxes nodeW wide, columns gap apart), ordering each column by the mean position of its
// inputs (fewer crossings), and draws the edges as curves on an SVG behind the boxes. It returns
// the node boxes by id.
function layout(canvas, graph, nodeW, gap) {
  const cols = [];
  for (const n of graph.nodes) (cols[n.depth] ||= []).push(n);
  const pos = new Map(); // id -> {col, row}
  cols.forEach((col, c) => {
    if (!col) return;
    const key = (n) => {
      const ps = n.inputs.map((i) => pos.get(i)).filter(Boolean);
      return ps.length ? ps.reduce((a, p) => a + p.y, 0) / ps.length : 0;
    };
    col.sort((a, b) => key(a) - key(b) || a.id.localeCompare(b.id));
    let y = HEAD_H;
    col.forEach((n) => {
      const hgt = n.source ? SRC_H : NODE_H;
      pos.set(n.id, { x: c * (nodeW + gap), y, h: hgt });
      y += hgt + ROW_GAP;
    });
  });
  // Centre each column vertically against the tallest.
  const bottom = (col) => Math.max(...col.map((n) => pos.get(n.id).y + pos.get(n.id).h));
  const tallest = Math.max(HEAD_H, ...cols.filter(Boolean).map(bottom));
  for (const col of cols) {
    if (!col) continue;
    const shift = Math.floor((tallest - bottom(col)) / 2);
    for (const n of col) pos.get(n.id).y += shift;
  }
  const width = Math.max(1, cols.length) * (nodeW + gap) - gap;
  const height = tallest + 4;

  const svg = s('svg', { class: 'dag-edges', width, height, viewBox: `0 0 ${width} ${height}` },
    s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#9aa3af' }))));
  for (const [a, b] of graph.edges) {
    const pa = pos.get(a);
    const pb = pos.get(b);
    if (!pa || !pb) continue;
    const x1 = pa.x + nodeW;
    const y1 = pa.y + pa.h / 2;
    const x2 = pb.x - 2;
    const y2 = pb.y + pb.h / 2;
    const dx = Math.max(30, (x2 - x1) / 2);
    const d = x2 > x1
      ? `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`
      : `M ${pa.x + nodeW / 2} ${pa.y + pa.h} C ${pa.x + nodeW / 2} ${pa.y + pa.h + 30}, ${pb.x + nodeW / 2} ${pb.y - 30}, ${pb.x + nodeW / 2} ${pb.y}`;
    svg.append(s('path', { class: 'edge', d, 'data-from': a, 'data-to': b, 'marker-end': 'url(#arrow)' }));
  }

  const heads = cols.map((col, c) => (col ? h('div.dag-col-head', { style: `left:${c * (nodeW + gap)}px;width:${nodeW}px` }, columnLabel(col, c)) : null));
  const els = new Map();
  const boxes = graph.nodes.map((n) => {
    const p = pos.get(n.id);
    const flow = n.flow;
    const link = flow && TABLE_KINDS.has(flow.kind);
    const el = h(link ? 'a.node' : 'div.node', {
      class: n.source ? `source src-${n.source.kind}` : 'flow',
      style: `left:${p.x}px;top:${p.y}px;width:${nodeW}px;height:${p.h}px`,
      'data-node': n.id,
      href: link ? `/tables/${encodeURIComponent(n.id)}` : null,
      'data-link': link ? true : null,
    });
    els.set(n.id, el);
    return el;
  });
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.replaceChildren(svg, ...heads.filter(Boolean), ...boxes);
  return els;
}

// columnLabel names a DAG column: sources first, then the medallion layer that most of its
// tables name (bronze, silver, gold), else the layer of its depth (the tables reading sources
// are bronze, those reading bronze silver, the rest gold).
function columnLabel(col, c) {
  if (c === 0) return 'sources';
  const layers = ['bronze', 'silver', 'gold'];
  const counts = layers.map((l) => col.filter((n) => n.id.toLowerCase().includes(l)).length);
  const best = counts.indexOf(Math.max(...counts));
  if (counts[best] > 0 && counts[best] * 2 >= col.length) return layers[best];
  return layers[Math.min(c, 3) - 1];
}

// fillNode writes a node's current status and rates into its box.
function fillNode(el, n) {
  if (n.source) {
    el.replaceChildren(
      h('div.node-kind', null, n.source.kind),
      h('div.node-name', { title: n.id }, n.source.label),
    );
    return;
  }
  const f = n.flow;
  const failedExp = (f.expectations || []).reduce((a, e) => a + (toNumber(e.failed) || 0), 0);
  el.dataset.status = f.status || 'never';
  el.title = [
    `${f.name} (${f.kind}, ${f.execution}${f.schedule ? `, schedule ${f.schedule}` : ''})`,
    `status: ${f.status}`,
    f.error ? `error: ${f.error}` : '',
    f.last_batch ? `last batch: ${fmtAgo(f.last_batch)}` : '',
    f.version != null && f.version >= 0 ? `version: ${f.version}` : 'no commit yet',
  ].filter(Boolean).join('\n');
  const latency = toNumber(f.latency_ms);
  // The box shows the table part of domain.table large, the domain on the line below.
  const dot = f.name.indexOf('.');
  const short = dot > 0 ? f.name.slice(dot + 1) : f.name;
  const domain = dot > 0 ? f.name.slice(0, dot) : (f.domain || '');
  el.replaceChildren(
    h('div.node-top', null,
      h('span.dot', { 'data-status': f.status }),
      h('span.node-name', null, short),
      failedExp ? h('span.node-warn', { title: `${fmtNum(failedExp)} rows failed expectations` }, '!') : null),
    h('div.node-line.muted', null, [domain, f.execution || f.kind, f.status, f.schedule].filter(Boolean).join(' · ')),
    h('div.node-line', null, `in ${fmtRate(f.rate_in)} → out ${fmtRate(f.rate_out)}`),
    h('div.node-line.muted', null, [
      latency ? `latency ${fmtLatency(latency / 1000)}` : '',
      f.freshness_seconds != null ? `fresh ${fmtLatency(f.freshness_seconds)}` : '',
      f.version != null && f.version >= 0 ? `v${f.version}` : 'no commit yet',
    ].filter(Boolean).join(' · ')),
  );
}

function fmtRate(r) {
  const v = toNumber(r);
  if (v == null) return '–';
  return `${v >= 100 ? fmtNum(Math.round(v)) : fmtNum(Math.round(v * 10) / 10)}/s`;
}

// markEdges animates the edges into flows that are moving rows now.
function markEdges(canvas, graph) {
  const live = new Set(graph.nodes.filter((n) => n.flow && n.flow.status === 'running' && (toNumber(n.flow.rate_in) || 0) > 0).map((n) => n.id));
  for (const path of canvas.querySelectorAll('path.edge')) {
    path.classList.toggle('live', live.has(path.dataset.to));
  }
}

// COUNTERS are the counter columns of the flows table: [field, header, highlight when > 0].
const COUNTERS = [
  ['batches', 'Batches', ''],
  ['rows_in', 'Rows in', ''],
  ['rows_out', 'Rows out', ''],
  ['rows_dropped', 'Dropped', 'warn'],
  ['rows_quarantined', 'Quarantined', 'warn'],
  ['rows_late', 'Late', 'warn'],
  ['rows_duplicate', 'Duplicates', ''],
  ['state_entries', 'State keys', ''],
];

function flowsTable(flows) {
  const head = h('tr', null,
    h('th', null, 'Flow'), h('th', null, 'Status'), h('th', null, 'Execution'),
    COUNTERS.map(([, t]) => h('th.num', null, t)),
    h('th.num', { title: 'duration of the last batch' }, 'Batch time'), h('th', null, 'Expectations (passed / failed)'));
  const rows = flows.flatMap((f) => {
    // The name may break after its domain's dot.
    const dot = f.name.indexOf('.');
    const label = dot > 0 ? [f.name.slice(0, dot + 1), h('wbr'), f.name.slice(dot + 1)] : [f.name];
    const link = TABLE_KINDS.has(f.kind) ? h('a', { href: `/tables/${encodeURIComponent(f.name)}`, 'data-link': true }, label) : label;
    const exps = (f.expectations || []).map((e) => {
      const failed = toNumber(e.failed) || 0;
      // A failure is red; one of a keep (warn-only) expectation amber: its rows were kept.
      const cls = !failed ? 'passed' : (e.action === 'keep' ? 'failed warned' : 'failed');
      return h('span.exp', { class: cls, title: `${e.name}: ${fmtNum(e.failed)} rows failed; on violation ${e.action || '?'}` },
        `${e.name} ${fmtNum(e.passed)} / ${fmtNum(e.failed)}`, e.action ? h('small', null, ` ${e.action}`) : null);
    });
    const row = h('tr', { 'data-flow': f.name, class: f.status === 'failed' ? 'row-failed' : null },
      h('td', null, link),
      h('td', null, h('span.status', { 'data-status': f.status }, f.status || 'never')),
      h('td', null, f.execution || f.kind, f.schedule ? h('div.muted', null, f.schedule) : null),
      COUNTERS.map(([k, , hl]) => h('td.num', { class: hl && (toNumber(f[k]) || 0) > 0 ? hl : null }, fmtNum(f[k] ?? 0))),
      h('td.num', { title: f.last_batch ? `at ${f.last_batch}` : null }, f.last_batch_ms != null && f.batches ? fmtMs(f.last_batch_ms) : '–'),
      h('td.exps', null, exps.length ? exps : h('span.muted', null, '–')),
    );
    if (!f.error) return [row];
    // The last error goes on a row of its own, below its flow, across the table.
    return [row, h('tr.error-row', { 'data-flow-error': f.name },
      h('td.err', { colspan: 6 + COUNTERS.length, title: f.error }, truncate(f.error, 600)))];
  });
  return h('table.data.flows', null, h('thead', null, head), h('tbody', null, rows));
}

function truncate(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}
