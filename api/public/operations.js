// The operations table: what clients asked for, per server, method and tool or prompt, from the
// snapshot's `operations` (cumulative histograms kept by the MCP child), with p50 and p95
// estimated from the buckets as Prometheus' histogram_quantile does. Method and tool names come
// from clients: they go in as text only (dom.js).
import { $, el, setText } from './dom.js';

/** Bounds (seconds) of an operation's buckets: shared/operations.ts OPERATION_BOUNDS. */
export const OPERATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The `q` quantile (0..1) of a cumulative histogram, by linear interpolation inside the bucket;
 * null with no observations; past the last bound, the last bound. A port of `quantile()` of
 * shared/operations.ts: the same numbers (test/dashboard.test.ts compares them).
 */
export function quantile(bounds, buckets, count, q) {
  if (count === 0) return null;
  const rank = q * count;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i += 1) {
    const c = buckets[i];
    if (c >= rank) {
      const inBucket = c - prevCount;
      return inBucket === 0 ? bounds[i] : prevBound + ((bounds[i] - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bounds[i];
    prevCount = c;
  }
  return bounds[bounds.length - 1];
}

/** Seconds as "0.8 ms", "23.5 ms", "1.25 s"; "—" for none; past the last bound "≥ 10 s". */
export function formatSeconds(s, count) {
  if (s === null) return '—';
  const last = OPERATION_BOUNDS[OPERATION_BOUNDS.length - 1];
  if (s >= last && count > 0) return `≥ ${last} s`;
  return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

/** Every operation of every server with data, busiest first. */
function rowsOf(st, ids) {
  const rows = [];
  for (const id of ids) {
    const d = st.stats.get(id);
    for (const op of (d && d.data.operations) || []) rows.push({ id, op });
  }
  rows.sort((a, b) => b.op.count - a.op.count || a.op.method.localeCompare(b.op.method) || String(a.op.name).localeCompare(String(b.op.name)));
  return rows;
}

/** Draws the operations table of `st` for the servers `ids`. */
export function renderOperations(st, ids) {
  const table = $('operations');
  table.classList.toggle('multi', ids.length > 1);
  const rows = rowsOf(st, ids);
  const tbody = table.tBodies[0];
  if (!rows.length) {
    const text = st.stats.size === 0 ? 'Waiting for data…' : 'No requests recorded yet.';
    const empty = tbody.querySelector('td.empty');
    if (empty && tbody.rows.length === 1) setText(empty, text);
    else tbody.replaceChildren(el('tr', null, el('td', { class: 'empty', colspan: 7 }, text)));
    setText($('ops-count'), '0 requests');
    table.dataset.key = '';
    return;
  }
  let calls = 0;
  const trs = rows.map(({ id, op }) => {
    calls += op.count;
    const { buckets } = op.durationSeconds;
    const p50 = quantile(OPERATION_BOUNDS, buckets, op.count, 0.5);
    const p95 = quantile(OPERATION_BOUNDS, buckets, op.count, 0.95);
    const tr = el(
      'tr',
      { 'data-server': id, 'data-method': op.method, 'data-name': op.name === null ? undefined : op.name },
      el('td', { class: 'col-server' }, id),
      el('td', { class: 'method' }, el('code', null, op.method)),
      el('td', { class: 'name' }, el('div', { class: 'clip', title: op.name === null ? undefined : op.name }, op.name === null ? '—' : op.name)),
      el('td', { class: 'num calls' }, String(op.count)),
      el('td', { class: `num errors${op.errors > 0 ? ' has-errors' : ''}` }, String(op.errors)),
      el('td', { class: 'num p50' }, formatSeconds(p50, op.count)),
      el('td', { class: 'num p95' }, formatSeconds(p95, op.count)),
    );
    return tr;
  });
  // Rebuilt whole (at most 100 rows a server), but only when something changed.
  const key = JSON.stringify(rows.map(({ id, op }) => [id, op.method, op.name, op.count, op.errors, op.durationSeconds.sum]));
  if (table.dataset.key !== key) {
    table.dataset.key = key;
    tbody.replaceChildren(...trs);
  }
  setText($('ops-count'), `${calls} ${calls === 1 ? 'request' : 'requests'}`);
}
