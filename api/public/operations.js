// The operations table: what clients asked for, per server, method and tool or prompt, from the
// snapshot's `operations` (cumulative histograms kept by the MCP child), with p50 and p95
// estimated from the buckets as Prometheus' histogram_quantile does. Method and tool names come
// from clients: they go in as text only (dom.js).
import { $, el, setText } from './dom.js';

/** Bounds (seconds) of a snapshot without `operationBounds`: shared/operations.ts LEGACY_OPERATION_BOUNDS. */
export const LEGACY_OPERATION_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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

/** Seconds as "0.8 ms", "23.5 ms", "1.25 s"; "—" for none; past the last of `bounds` "≥ 300 s". */
export function formatSeconds(s, count, bounds = LEGACY_OPERATION_BOUNDS) {
  if (s === null) return '—';
  const last = bounds[bounds.length - 1];
  if (s >= last && count > 0) return `≥ ${last} s`;
  return s < 1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

/** The bounds of a server's `operations` buckets: its snapshot's `operationBounds`, else the legacy ones. */
export function boundsOf(data) {
  return (data && data.operationBounds) || LEGACY_OPERATION_BOUNDS;
}

/**
 * Every operation of every server with data, busiest first: the entries of one method and name
 * (one per error type, see docs/state-directory.md) as one row, their counts and buckets summed, with the error
 * types and their counts (`types`, most first) for the errors cell.
 */
function rowsOf(st, ids) {
  const rows = [];
  for (const id of ids) {
    const d = st.stats.get(id);
    const bounds = boundsOf(d && d.data);
    const byName = new Map();
    for (const op of (d && d.data.operations) || []) {
      const k = JSON.stringify([op.method, op.name]);
      let row = byName.get(k);
      if (!row) {
        row = { id, bounds, method: op.method, name: op.name, count: 0, errors: 0, sum: 0, buckets: bounds.map(() => 0), types: [] };
        byName.set(k, row);
        rows.push(row);
      }
      row.count += op.count;
      row.errors += op.errors;
      row.sum += op.durationSeconds.sum;
      op.durationSeconds.buckets.forEach((c, i) => (row.buckets[i] += c));
      if (op.errorType) row.types.push([op.errorType, op.count]);
    }
  }
  for (const r of rows) r.types.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  rows.sort((a, b) => b.count - a.count || a.method.localeCompare(b.method) || String(a.name).localeCompare(String(b.name)));
  return rows;
}

/** The errors cell's title: "tool_error × 3 · -32603 × 1" (what the conventions call error.type). */
function typesText(types) {
  return types.length ? types.map(([t, n]) => `${t} × ${n}`).join(' · ') : undefined;
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
  const trs = rows.map((r) => {
    calls += r.count;
    const p50 = quantile(r.bounds, r.buckets, r.count, 0.5);
    const p95 = quantile(r.bounds, r.buckets, r.count, 0.95);
    const types = typesText(r.types);
    return el(
      'tr',
      { 'data-server': r.id, 'data-method': r.method, 'data-name': r.name === null ? undefined : r.name },
      el('td', { class: 'col-server' }, r.id),
      el('td', { class: 'method' }, el('code', null, r.method)),
      el('td', { class: 'name' }, el('div', { class: 'clip', title: r.name === null ? undefined : r.name }, r.name === null ? '—' : r.name)),
      el('td', { class: 'num calls' }, String(r.count)),
      el('td', { class: `num errors${r.errors > 0 ? ' has-errors' : ''}`, title: types, 'data-error-types': types }, String(r.errors)),
      el('td', { class: 'num p50' }, formatSeconds(p50, r.count, r.bounds)),
      el('td', { class: 'num p95' }, formatSeconds(p95, r.count, r.bounds)),
    );
  });
  // Rebuilt whole (at most 100 rows a server), but only when something changed.
  const key = JSON.stringify(rows.map((r) => [r.id, r.method, r.name, r.count, r.errors, r.sum, r.types]));
  if (table.dataset.key !== key) {
    table.dataset.key = key;
    tbody.replaceChildren(...trs);
  }
  setText($('ops-count'), `${calls} ${calls === 1 ? 'request' : 'requests'}`);
}
