// The tables pages: /tables lists the project's tables (/api/tables) above a SQL box;
// /tables/{name} shows one table (/api/tables/{name}): its schema, partition columns, history and
// files, a version picker that loads that version's rows (time travel), and the SQL box.

import {
  h, api, isAbort, fmtNum, fmtBytes, fmtAgo, fmtTime, parseTime, freshnessBadge, rowsTable, toNumber,
} from './util.js';

const tableHref = (name) => `/tables/${encodeURIComponent(name)}`;

// mountList draws the table list page into root and returns its page handle (see app.js).
export function mountList(root) {
  const error = h('div.error-box', { hidden: true });
  const count = h('span.muted');
  const box = h('div.table-wrap');
  root.append(
    h('div.page-head', null, h('h1', null, 'Tables'), count),
    error,
    h('section.card', null, box),
    sqlBox('SHOW TABLES'),
  );

  async function refresh(signal) {
    let d;
    try {
      d = await api('/api/tables', { signal });
      error.hidden = true;
    } catch (err) {
      if (isAbort(err)) throw err;
      error.hidden = false;
      error.textContent = `Cannot list the tables: ${err.message}`;
      throw err;
    }
    // The project's tables by name; the platform's own (_strata.*) last.
    const tables = (d.tables || []).slice().sort((a, b) => (a.name.startsWith('_') - b.name.startsWith('_')) || a.name.localeCompare(b.name));
    count.textContent = `${tables.length} table${tables.length === 1 ? '' : 's'}`;
    const rows = tables.map((t) => h('tr', { 'data-table': t.name },
      h('td', null, h('a', { href: tableHref(t.name), 'data-link': true }, t.name)),
      h('td', null, kindLabel(t.kind)),
      h('td.num', null, fmtNum(t.version)),
      h('td.num', null, fmtNum(t.num_files)),
      h('td.num', null, fmtBytes(t.size_bytes)),
      h('td', { title: t.last_commit || '' }, t.last_commit ? fmtAgo(t.last_commit) : '–'),
      h('td', null, t.freshness_seconds == null
        ? h('span.muted', { title: 'no data time known for this table' }, '–')
        : freshnessBadge(t.name, t.freshness_seconds, t.freshness_sla_seconds, { label: 'fresh' })),
    ));
    box.replaceChildren(tables.length
      ? h('table.data.tables', null,
        h('thead', null, h('tr', null,
          h('th', null, 'Table'), h('th', null, 'Kind'), h('th.num', null, 'Version'), h('th.num', null, 'Files'),
          h('th.num', null, 'Size'), h('th', null, 'Last commit'), h('th', null, 'Freshness'))),
        h('tbody', null, rows))
      : h('p.muted', null, 'No tables yet.'));
  }

  return { refresh, unmount() {} };
}

function kindLabel(kind) {
  return { streaming_table: 'streaming table', materialized_view: 'materialized view' }[kind] || kind || 'table';
}

// mountDetail draws the page of table params.name into root and returns its page handle.
export function mountDetail(root, params) {
  const name = params.name;
  const controller = new AbortController(); // aborts the rows loads when the page is left
  const error = h('div.error-box', { hidden: true });
  const meta = h('dl.meta');
  const comment = h('p.comment', { hidden: true });
  const schemaBox = h('div.table-wrap');
  const partBox = h('p.muted');
  const historyBox = h('div.table-wrap.history-wrap');
  const filesBox = h('div.table-wrap.files-wrap');
  const picker = h('select', { id: 'version-picker', 'aria-label': 'table version' });
  const versionInput = h('input.version-input', { type: 'number', min: 0, step: 1, id: 'version-input', placeholder: 'any version', 'aria-label': 'any table version' });
  const rowsStatus = h('span.muted');
  const rowsError = h('div.error-box', { hidden: true });
  const rowsBox = h('div.table-wrap.rows-wrap', { id: 'version-rows' });
  const badge = h('span');
  // The latest rows are not reloaded on every commit (reading a streaming table's newest
  // version costs the server a scan): a button offers it when the table has moved on.
  const reloadLatest = h('button.linkish', { type: 'button', hidden: true, onclick: () => loadRows('') });
  root.append(
    h('div.page-head', null,
      h('div', null, h('a.back', { href: '/tables', 'data-link': true }, '← Tables'), h('h1', null, name)),
      badge),
    error,
    comment,
    h('section.card', null, meta),
    h('div.two-col', null,
      h('section.card', null, h('h2', null, 'Schema'), schemaBox, h('h3', null, 'Partition columns'), partBox),
      h('section.card', null,
        h('h2', null, 'Time travel'),
        h('div.toolbar', null, h('label', { for: 'version-picker' }, 'Version '), picker, versionInput, rowsStatus, reloadLatest),
        rowsError,
        rowsBox)),
    h('section.card', null, h('h2', null, 'History'), historyBox),
    h('section.card', null, h('h2', null, 'Files'), filesBox),
    sqlBox(`SELECT * FROM ${name} LIMIT 100`),
  );

  // latest is the table's newest version last seen; shown the picker value whose rows are drawn
  // ('' for latest, null before the first load); shownLatest the version that was latest when the
  // latest rows were loaded; rowsSeq orders the rows loads so that a late answer cannot overwrite
  // a newer one.
  let latest = null;
  let shown = null;
  let shownLatest = null;
  let rowsSeq = 0;
  let rowsPending = false; // a rows load is in flight

  picker.addEventListener('change', () => loadRows(picker.value));
  // The number box reaches versions older than the history shown (as long as they were not
  // vacuumed): it selects that version in the picker (adding it) and loads it.
  versionInput.addEventListener('change', () => {
    const v = versionInput.value.trim();
    if (!/^\d+$/.test(v)) return;
    if (![...picker.options].some((o) => o.value === v)) picker.append(h('option', { value: v }, `v${v}`));
    picker.value = v;
    loadRows(v);
  });

  async function loadRows(version) {
    const seq = ++rowsSeq;
    rowsPending = true;
    const q = new URLSearchParams({ limit: '100' });
    if (version !== '') q.set('version', version);
    rowsStatus.textContent = 'loading…';
    reloadLatest.hidden = true;
    const loadingLatest = latest;
    rowsBox.dataset.version = version === '' ? 'latest' : version;
    delete rowsBox.dataset.rows;
    try {
      const r = await api(`/api/tables/${encodeURIComponent(name)}/rows?${q}`, { signal: controller.signal });
      if (seq !== rowsSeq) return;
      rowsPending = false;
      rowsError.hidden = true;
      shown = version;
      if (version === '') shownLatest = loadingLatest;
      rowsStatus.textContent = `${fmtNum(r.row_count)} row${r.row_count === 1 ? '' : 's'}${r.truncated ? ' (first 100)' : ''} · ${fmtNum(r.elapsed_ms)} ms`;
      rowsBox.replaceChildren(rowsTable(r.columns, r.rows, { max: 100 }));
      rowsBox.dataset.rows = String((r.rows || []).length);
    } catch (err) {
      if (isAbort(err) || seq !== rowsSeq) return;
      rowsPending = false;
      rowsStatus.textContent = '';
      rowsError.hidden = false;
      rowsError.textContent = `Cannot read version ${version === '' ? 'latest' : version}: ${err.message}`;
      rowsBox.replaceChildren();
    }
  }

  async function refresh(signal) {
    let t;
    try {
      t = await api(`/api/tables/${encodeURIComponent(name)}`, { signal });
      error.hidden = true;
    } catch (err) {
      if (isAbort(err)) throw err;
      error.hidden = false;
      error.textContent = err.status === 404 ? `No table ${name}: ${err.message}` : `Cannot load ${name}: ${err.message}`;
      throw err;
    }
    document.title = `${name} · Strata`;
    badge.replaceChildren(freshnessBadge(name, t.freshness_seconds, t.freshness_sla_seconds, { label: 'freshness' }));
    comment.hidden = !t.comment;
    comment.textContent = t.comment || '';
    meta.replaceChildren(...[
      ['Kind', kindLabel(t.kind)],
      ['Version', fmtNum(t.version)],
      ['Rows', t.num_rows == null ? '–' : fmtNum(t.num_rows)],
      ['Files', fmtNum(t.num_files)],
      ['Size', fmtBytes(t.size_bytes)],
      ['Last commit', t.last_commit ? `${fmtTime(parseTime(t.last_commit))} (${fmtAgo(t.last_commit)})` : '–'],
      ['Location', t.location || '–'],
    ].map(([k, v]) => h('div', { class: k === 'Location' ? 'wide' : null }, h('dt', null, k), h('dd', { class: k === 'Location' ? 'mono' : null }, v))));

    const parts = new Set(t.partition_columns || []);
    schemaBox.replaceChildren(h('table.data.compact', null,
      h('thead', null, h('tr', null, h('th', null, 'Column'), h('th', null, 'Type'), h('th', null, 'Nullable'))),
      h('tbody', null, (t.schema || []).map((c) => h('tr', null,
        h('td', null, c.name, parts.has(c.name) ? h('span.tag', { title: 'partition column' }, 'partition') : null),
        h('td.mono', null, typeof c.type === 'string' ? c.type : JSON.stringify(c.type)),
        h('td', null, c.nullable ? 'yes' : 'no'))))));
    partBox.textContent = parts.size ? [...parts].join(', ') : 'none (not partitioned)';

    const history = t.history || [];
    historyBox.replaceChildren(history.length ? historyTable(history, (v) => {
      picker.value = String(v);
      loadRows(String(v));
      picker.scrollIntoView({ block: 'nearest' });
    }) : h('p.muted', null, 'No commits yet.'));
    filesBox.replaceChildren(filesTable(t.files || [], t.num_files));

    // The picker: latest, then each version of the history; the selection survives refreshes.
    const selected = picker.value;
    picker.replaceChildren(
      h('option', { value: '' }, `latest (v${t.version})`),
      ...history.map((c) => h('option', { value: String(c.version) }, `v${c.version} · ${c.operation || ''} · ${fmtTime(parseTime(c.timestamp))}`)),
    );
    if (selected && history.some((c) => String(c.version) === selected)) picker.value = selected;
    else if (selected && selected !== '') {
      picker.append(h('option', { value: selected }, `v${selected}`));
      picker.value = selected;
    } else picker.value = '';

    latest = t.version;
    // The first load (or a retry after it failed), unless one is under way.
    if (shown === null && !rowsPending) loadRows(picker.value);
    else if (shown === '' && picker.value === '' && !rowsPending && shownLatest !== null && latest !== shownLatest) {
      reloadLatest.hidden = false;
      reloadLatest.textContent = `showing v${shownLatest}; load v${latest}`;
    }
  }

  return {
    refresh,
    unmount() {
      controller.abort();
    },
  };
}

function historyTable(history, pick) {
  return h('table.data.history', null,
    h('thead', null, h('tr', null, h('th.num', null, 'Version'), h('th', null, 'Time'), h('th', null, 'Operation'), h('th', null, 'Parameters'), h('th', null, 'Metrics'))),
    h('tbody', null, history.map((c) => h('tr', { 'data-version': c.version },
      h('td.num', null, h('button.linkish', { type: 'button', title: 'show the rows of this version', onclick: () => pick(c.version) }, `v${c.version}`)),
      h('td', { title: c.timestamp || '' }, c.timestamp ? fmtTime(parseTime(c.timestamp)) : '–'),
      h('td', null, c.operation || '–'),
      h('td.kv', null, kv(c.operation_parameters)),
      h('td.kv', null, kv(c.operation_metrics))))));
}

// kv renders a map of parameters or metrics as "key value" chips.
function kv(obj) {
  const entries = Object.entries(obj || {}).filter(([, v]) => v != null && v !== '');
  if (!entries.length) return h('span.muted', null, '–');
  return entries.map(([k, v]) => {
    const n = toNumber(v);
    const text = n != null && typeof v !== 'boolean' ? fmtNum(n) : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    return h('span.chip', { title: `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}` }, h('small', null, k), ' ', text.length > 80 ? text.slice(0, 79) + '…' : text);
  });
}

function filesTable(files, total) {
  if (!files.length) return h('p.muted', null, 'No data files.');
  return h('div', null,
    h('table.data.compact', null,
      h('thead', null, h('tr', null, h('th', null, 'Path'), h('th.num', null, 'Size'), h('th.num', null, 'Rows'), h('th', null, 'Modified'))),
      h('tbody', null, files.map((f) => h('tr', null,
        h('td.mono', { title: f.path }, f.path),
        h('td.num', null, fmtBytes(f.size)),
        h('td.num', null, f.rows == null ? '–' : fmtNum(f.rows)),
        h('td', { title: f.modified || '' }, f.modified ? fmtAgo(f.modified) : '–'))))),
    total > files.length ? h('p.muted', null, `the ${files.length} newest of ${fmtNum(total)} files`) : null);
}

// sqlBox is a small SQL console: a textarea, Run (or Ctrl/Cmd+Enter), the answer of POST
// /api/sql as a table, or its error.
export function sqlBox(initial) {
  const area = h('textarea.sql', { id: 'sql-input', rows: 4, spellcheck: 'false', 'aria-label': 'SQL query' });
  area.value = initial || '';
  const run = h('button.primary', { type: 'button', id: 'sql-run' }, 'Run');
  const status = h('span.muted', { id: 'sql-status' });
  const error = h('div.error-box', { id: 'sql-error', hidden: true });
  const out = h('div.table-wrap.sql-out', { id: 'sql-result' });
  let running = false;

  async function go() {
    const sql = area.value.trim();
    if (!sql || running) return;
    running = true;
    run.disabled = true;
    status.textContent = 'running…';
    error.hidden = true;
    try {
      const r = await api('/api/sql', { method: 'POST', body: { sql, format: 'json', limit: 1000 } });
      status.textContent = `${fmtNum(r.row_count)} row${r.row_count === 1 ? '' : 's'}${r.truncated ? ' (truncated to 1000)' : ''} · ${fmtNum(r.elapsed_ms)} ms`;
      out.replaceChildren(rowsTable(r.columns, r.rows, { max: 1000 }));
    } catch (err) {
      status.textContent = '';
      error.hidden = false;
      error.textContent = err.message;
      out.replaceChildren();
    } finally {
      running = false;
      run.disabled = false;
    }
  }
  run.addEventListener('click', go);
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      go();
    }
  });
  return h('section.card.sql-box', null,
    h('h2', null, 'SQL'),
    h('p.muted.hint', null, 'Read-only SQL over the project\'s tables (domain.table). Ctrl+Enter runs it.'),
    area,
    h('div.toolbar', null, run, status),
    error,
    out);
}
