// The dashboard page (/): the project's title, one freshness badge per table and the panels of
// /api/dashboard, drawn by kind. Refreshes update badges and panels in place.

import { h, api, fmtLatency, fmtTime, parseTime, freshnessBadge, updateFreshnessBadge } from './util.js';
import { Panel } from './charts.js';

// mount draws the dashboard page into root and returns its page handle (see app.js).
export function mount(root) {
  const title = h('h1', null, 'Dashboard');
  const asOf = h('span.muted.as-of');
  const sla = h('span.muted.sla');
  const badges = h('div.badges', { id: 'freshness', 'aria-label': 'freshness per table' });
  const error = h('div.error-box', { hidden: true });
  const grid = h('div.grid', { id: 'panels' });
  root.append(
    h('div.page-head', null, title, h('div.page-meta', null, sla, asOf)),
    badges,
    error,
    grid,
  );

  // panels maps a panel name to its Panel; badgeEls a table name to its badge.
  const panels = new Map();
  const badgeEls = new Map();

  async function refresh(signal) {
    let d;
    try {
      d = await api('/api/dashboard', { signal });
      error.hidden = true;
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      error.hidden = false;
      error.textContent = `Cannot load the dashboard: ${err.message}`;
      throw err;
    }
    title.textContent = d.title || 'Dashboard';
    document.title = `${d.title || 'Dashboard'} · Strata`;
    const t = parseTime(d.as_of);
    asOf.textContent = t == null ? '' : `as of ${fmtTime(t)}`;
    sla.textContent = d.freshness_sla_seconds != null ? `freshness SLA ${fmtLatency(d.freshness_sla_seconds)}` : '';

    // Badges, keyed by table, in the server's order.
    const freshness = d.freshness || [];
    const keepB = new Set();
    freshness.forEach((f, i) => {
      keepB.add(f.table);
      let el = badgeEls.get(f.table);
      if (!el) {
        el = freshnessBadge(f.table, f.seconds, f.sla_seconds ?? d.freshness_sla_seconds);
        badgeEls.set(f.table, el);
      } else {
        updateFreshnessBadge(el, f.table, f.seconds, f.sla_seconds ?? d.freshness_sla_seconds);
      }
      placeAt(badges, el, i);
    });
    for (const [name, el] of badgeEls) {
      if (!keepB.has(name)) {
        el.remove();
        badgeEls.delete(name);
      }
    }
    badges.hidden = freshness.length === 0;

    // Panels, keyed by name; a panel whose kind changed is rebuilt.
    const keep = new Set();
    grid.querySelector(':scope > .no-panels')?.remove();
    (d.panels || []).forEach((p, i) => {
      keep.add(p.name);
      let panel = panels.get(p.name);
      if (panel && panel.kind !== p.chart) {
        panel.destroy();
        panel.el.remove();
        panel = null;
      }
      if (!panel) {
        panel = new Panel(p);
        panels.set(p.name, panel);
      }
      placeAt(grid, panel.el, i);
      panel.update(p);
    });
    for (const [name, panel] of panels) {
      if (!keep.has(name)) {
        panel.destroy();
        panel.el.remove();
        panels.delete(name);
      }
    }
    if (!(d.panels || []).length) {
      grid.replaceChildren(h('p.muted.no-panels', null, 'This project declares no dashboard panels (strata.yaml serve.dashboard).'));
    }
  }

  return {
    refresh,
    unmount() {
      for (const p of panels.values()) p.destroy();
      panels.clear();
    },
  };
}

// placeAt puts el at position i among parent's children, moving it only when it is elsewhere (a
// moved canvas would be re-laid out).
function placeAt(parent, el, i) {
  const at = parent.children[i];
  if (at !== el) parent.insertBefore(el, at || null);
}
