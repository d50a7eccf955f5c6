// The Tools view: per server, its tools as its last `tools/list` answer showed them (the
// snapshot's `catalog`) joined with their calls (tools.js): definition size, calls, errors, p50
// and last call; the tools never called dimmed with a "never called" badge, the largest
// definitions with a "largest" badge. Tool names come from servers and clients: they go in as
// text only (dom.js), cut to TOOL_NAME_MAX characters, at most MAX_TOOL_ROWS rows a server.
import { $, el, setText } from './dom.js';
import { ago } from './data.js';
import { boundsOf, formatSeconds } from './operations.js';
import { toolUsage } from './tools.js';

/** Longest tool name shown (shared/tool-catalog.ts TOOL_NAME_MAX); the page does not trust the file to keep it. */
export const TOOL_NAME_MAX = 128;
/** Most rows a server's table shows (shared/tool-catalog.ts MAX_CATALOG_TOOLS). */
export const MAX_TOOL_ROWS = 500;
/**
 * The share of a server's tools marked "largest": the 10 % with the biggest definitions (at
 * least one; ties with the last of them too). None when that would mark every tool (one tool,
 * or all of one size): then none stands out.
 */
export const LARGEST_SHARE = 0.1;

/** Bytes as "812 B", "1.2 kB", "3.4 MB" (powers of 1000, as a model's context is counted). */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 999_950) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/** The names of the rows marked "largest" (see {@link LARGEST_SHARE}). */
export function largestNames(rows) {
  if (rows.length < 2) return new Set();
  const sizes = rows.map((r) => r.bytes).sort((a, b) => b - a);
  const cut = sizes[Math.ceil(rows.length * LARGEST_SHARE) - 1];
  if (cut <= sizes[sizes.length - 1]) return new Set();
  return new Set(rows.filter((r) => r.bytes >= cut).map((r) => r.name));
}

/** The rows in the order shown: the biggest definitions first, then by name. */
export function sortRows(rows) {
  return [...rows].sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Draws the Tools view of `st` for the servers `ids`, as of `now`. */
export function renderTools(st, ids, now) {
  const box = $('tools');
  const blocks = ids.map((id) => {
    const block = blockOf(st, id);
    const d = st.stats.get(id);
    drawBlock(block, d ? d.data : null, now);
    return block.section;
  });
  for (const id of [...st.tools.keys()]) if (!ids.includes(id)) st.tools.delete(id);
  if (!blocks.length) {
    if (!box.querySelector('p.empty')) box.replaceChildren(el('p', { class: 'muted empty' }, 'No server known yet.'));
    return;
  }
  if (box.firstChild && !box.firstChild.matches('section')) box.replaceChildren();
  blocks.forEach((section, i) => {
    if (box.children[i] !== section) box.insertBefore(section, box.children[i] || null);
  });
  while (box.children.length > blocks.length) box.lastChild.remove();
}

/** The block of server `id`, made once: its heading line, a line of text or a table. */
function blockOf(st, id) {
  let block = st.tools.get(id);
  if (block) return block;
  const summary = el('span', { class: 'tools-summary', 'data-tools-summary': '' });
  const seen = el('span', { class: 'muted tools-seen' });
  const note = el('p', { class: 'muted tools-note', 'data-tools-note': '' });
  const tbody = el('tbody');
  const table = el(
    'table',
    { class: 'tools-table' },
    el('caption', { class: 'sr-only' }, `Tools of server ${id}`),
    el(
      'thead',
      null,
      el(
        'tr',
        null,
        el('th', { scope: 'col' }, 'Tool'),
        el('th', { scope: 'col', class: 'num', title: 'UTF-8 bytes of the tool\'s definition as JSON: what it costs a model\'s context' }, 'Definition'),
        el('th', { scope: 'col', class: 'num' }, 'Calls'),
        el('th', { scope: 'col', class: 'num' }, 'Errors'),
        el('th', { scope: 'col', class: 'num' }, 'p50'),
        el('th', { scope: 'col' }, 'Last called'),
      ),
    ),
    tbody,
  );
  const wrap = el('div', { class: 'table-wrap', hidden: true }, table);
  const section = el(
    'section',
    { class: 'tools-server', 'data-server': id, 'aria-label': `Tools of server ${id}` },
    el('h3', { class: 'tools-head' }, el('span', { class: 'tools-id' }, id), summary, seen),
    note,
    wrap,
  );
  block = { section, summary, seen, note, wrap, tbody, key: null };
  st.tools.set(id, block);
  return block;
}

/** Fills a server's block from its latest stats (null: none yet). */
function drawBlock(block, data, now) {
  const catalog = data && data.catalog;
  if (!catalog || !Array.isArray(catalog.tools)) {
    setText(block.summary, '');
    setText(block.seen, '');
    showNote(block, data ? 'Tools not listed yet.' : 'Waiting for data…');
    return;
  }
  const rows = sortRows(toolUsage(data)).slice(0, MAX_TOOL_ROWS);
  const total = Number(catalog.totalBytes) || 0;
  const omitted = Number(catalog.omitted) || 0;
  setText(block.summary, `${rows.length} ${rows.length === 1 ? 'tool' : 'tools'} · ${formatBytes(total)} of definitions${omitted > 0 ? ` · ${omitted} more not kept` : ''}`);
  block.summary.title = `${total} bytes`;
  block.summary.dataset.tools = String(rows.length);
  block.summary.dataset.totalBytes = String(total);
  setText(block.seen, `listed ${ago(catalog.seenAt, now)}`);
  block.seen.title = String(catalog.seenAt);
  if (!rows.length) {
    showNote(block, 'The server lists no tools.');
    return;
  }
  block.note.hidden = true;
  block.wrap.hidden = false;
  const largest = largestNames(rows);
  // Rebuilt whole when something changed; only the relative times otherwise.
  const key = JSON.stringify([rows, [...largest]]);
  if (block.key !== key) {
    block.key = key;
    block.tbody.replaceChildren(...rows.map((r) => rowOf(r, largest.has(r.name), boundsOf(data))));
  }
  for (const tr of block.tbody.rows) {
    const last = tr.cells[5];
    if (last.dataset.at) setText(last.firstChild, ago(last.dataset.at, now));
  }
}

function showNote(block, text) {
  setText(block.note, text);
  block.note.hidden = false;
  block.wrap.hidden = true;
  block.tbody.replaceChildren();
  block.key = null;
}

/** One tool's row. */
function rowOf(r, isLargest, bounds) {
  const name = String(r.name).slice(0, TOOL_NAME_MAX);
  const never = r.calls === 0;
  const cls = `tool${never ? ' never-called' : ''}${isLargest ? ' largest' : ''}`;
  const bytes = el('td', { class: 'num bytes', title: `${r.bytes} bytes`, 'data-bytes': r.bytes }, el('span', { class: 'value' }, formatBytes(r.bytes)));
  if (isLargest) bytes.prepend(el('span', { class: 'badge badge-largest', 'data-largest': '', title: 'among the largest 10 % of this server\'s definitions' }, 'largest'), ' ');
  const last = never
    ? el('td', { class: 'last' }, el('span', { class: 'badge badge-never', 'data-never-called': '' }, 'never called'))
    : r.lastCalledAt
      ? el('td', { class: 'last', title: r.lastCalledAt, 'data-at': r.lastCalledAt }, el('span', null, ''))
      : el('td', { class: 'last', title: 'called before this server recorded the time of calls' }, '—');
  return el(
    'tr',
    { class: cls, 'data-name': name },
    el('td', { class: 'name' }, el('div', { class: 'clip', title: name }, name)),
    bytes,
    el('td', { class: 'num calls' }, String(r.calls)),
    el('td', { class: `num errors${r.errors > 0 ? ' has-errors' : ''}` }, String(r.errors)),
    el('td', { class: 'num p50', 'data-p50-ms': r.p50Ms === null ? undefined : String(r.p50Ms) }, formatSeconds(r.p50Ms === null ? null : r.p50Ms / 1000, r.calls, bounds)),
    last,
  );
}
