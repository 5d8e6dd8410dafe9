// The Strata dashboard: a single-page application over the strata serve HTTP API. This module
// routes (history API: /, /pipelines, /tables, /tables/{name}) and refreshes the current page:
// on each server-sent 'refresh' event of /api/events (at most one refresh per MIN_GAP_MS), and
// by polling every POLL_MS when no refresh came otherwise (the event stream is down, or quiet).
//
// A page module's mount(root, params) draws the page into root and returns a handle
// {refresh(signal): Promise, unmount()}: refresh fetches and redraws in place; signal aborts when
// the page is left.

import { h, isAbort, fmtClock } from './util.js';
import { mount as mountDashboard } from './dashboard.js';
import { mount as mountPipelines } from './pipelines.js';
import { mountList as mountTables, mountDetail as mountTable } from './tables.js';

const MIN_GAP_MS = 2000;
const REST_MS = 1000;
const POLL_MS = 5000;

const ROUTES = [
  { re: /^\/$/, nav: 'dashboard', mount: mountDashboard },
  { re: /^\/pipelines\/?$/, nav: 'pipelines', mount: mountPipelines },
  { re: /^\/tables\/?$/, nav: 'tables', mount: mountTables },
  { re: /^\/tables\/([^/]+)\/?$/, nav: 'tables', mount: mountTable, params: (m) => ({ name: decodeURIComponent(m[1]) }) },
];

const root = document.getElementById('app');
const live = document.getElementById('live');

// current is the mounted page: {handle, controller}; null before the first route.
let current = null;

function route(path) {
  if (current) {
    current.controller.abort();
    try {
      current.handle.unmount();
    } catch (err) {
      console.error(err);
    }
    current = null;
  }
  root.replaceChildren();
  window.scrollTo(0, 0);
  let match = null;
  const r = ROUTES.find((x) => (match = x.re.exec(path)));
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', !!r && a.dataset.nav === r.nav);
  }
  if (!r) {
    document.title = 'Not found · Strata';
    root.append(h('div.page-head', null, h('h1', null, 'Not found')),
      h('p', null, `Nothing at ${path}. `, h('a', { href: '/', 'data-link': true }, 'Back to the dashboard.')));
    return;
  }
  document.title = 'Strata';
  const handle = r.mount(root, r.params ? r.params(match) : {});
  current = { handle, controller: new AbortController() };
  refreshNow();
}

// navigate moves to an in-app path without reloading the page.
export function navigate(path) {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  route(location.pathname);
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[data-link]');
  if (!a || a.target || a.origin !== location.origin) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener('popstate', () => route(location.pathname));

// The refresh scheduler. lastStart is when the last refresh began (performance.now()); timer a
// pending throttled refresh; running the page whose refresh is in flight (null: none); again
// whether another refresh of it was asked for meanwhile.
let lastStart = -Infinity;
let lastEnd = -Infinity;
let timer = null;
let running = null;
let again = false;
let lastOk = 0;

// requestRefresh asks for a refresh of the current page, at most one per MIN_GAP_MS and none
// within REST_MS of the previous one's end (a slow server is not asked back to back): a request
// within the gap is deferred to its end, and requests meanwhile merge into it.
function requestRefresh() {
  if (timer) return;
  const wait = Math.max(0, lastStart + MIN_GAP_MS - performance.now(), lastEnd + REST_MS - performance.now());
  timer = setTimeout(() => {
    timer = null;
    refreshNow();
  }, wait);
}

async function refreshNow() {
  const page = current;
  if (!page) return;
  if (running === page) {
    again = true;
    return;
  }
  // A refresh of a page left meanwhile is aborted; the new page's does not wait for it.
  running = page;
  again = false;
  lastStart = performance.now();
  try {
    await page.handle.refresh(page.controller.signal);
    lastOk = Date.now();
    showLive();
  } catch (err) {
    if (!isAbort(err)) console.warn('refresh:', err.message || err);
  } finally {
    lastEnd = performance.now();
    if (running === page) running = null;
    if (again && current === page) {
      again = false;
      requestRefresh();
    }
  }
}

// Polling fallback: refresh when nothing refreshed the page for POLL_MS.
setInterval(() => {
  if (performance.now() - lastStart >= POLL_MS) requestRefresh();
}, 1000);

// The event stream. EventSource reconnects by itself after an error.
let streamOpen = false;
function connect() {
  if (!window.EventSource) return;
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    streamOpen = true;
    showLive();
  });
  es.addEventListener('error', () => {
    streamOpen = false;
    showLive();
  });
  es.addEventListener('refresh', (e) => {
    streamOpen = true;
    live.dataset.lastEvent = e.data || '';
    requestRefresh();
  });
}

function showLive() {
  live.dataset.state = streamOpen ? 'live' : 'polling';
  const when = lastOk ? ` · updated ${fmtClock(lastOk)}` : '';
  live.textContent = (streamOpen ? 'live' : 'polling') + when;
  live.title = streamOpen
    ? 'following the server\'s commit events (/api/events); refreshes at most every 2 s'
    : 'the event stream is not connected; refreshing every 5 s';
}

connect();
route(location.pathname);
