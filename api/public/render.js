// Draws the page from the state: the stream pill, the alerts, the server cards, the connections
// table and the active-connections chart, and calls the views of their own files (operations,
// tools). Text from clients goes in through dom.js only.
import { $, el, setText, svg } from './dom.js';
import { WINDOW_MS, ago, clock, colorOf, duration, eraOf, serverIds, serverInfo } from './data.js';
import { renderOperations } from './operations.js';
import { renderStream } from './socket.js';
import { renderTools } from './tools-view.js';

/** Draws everything from `st`, as of now. */
export function render(st) {
  const now = Date.now();
  renderStream(st);
  renderAlerts(st);
  renderServers(st, now);
  renderTable(st, now);
  renderOperations(st, serverIds(st));
  renderTools(st, serverIds(st), now);
  renderChart(st, now);
}

function renderAlerts(st) {
  const alerts = [];
  if (st.stream === 'down') alerts.push(['bad', 'stream', 'Live updates lost: reconnecting. The figures below may be out of date.']);
  if (st.apiError) alerts.push(['bad', 'api', st.apiError]);
  for (const id of serverIds(st)) {
    const s = serverInfo(st, id);
    if (s.stale) {
      const since = s.writtenAt ? ` since ${clock(s.writtenAt)}` : '';
      alerts.push(['warn', 'stale', `Server "${id}": no fresh snapshot${since}. The MCP server may be hung or dead; the connections shown are the last known.`]);
    } else if (s.status === 'fatal' || s.status === 'backoff') {
      alerts.push(['bad', 'child', `Server "${id}" is ${s.status === 'fatal' ? 'down for good (fatal): it kept failing to start' : 'restarting (backoff)'}.`]);
    }
    const up = upstreamOf(s);
    if (up && up.reachable === false) alerts.push(['bad', 'upstream', `Server "${id}": its upstream ${s.backend.target} cannot be reached since ${clock(up.since)} (${up.error}). Clients get 502.`]);
  }
  const key = JSON.stringify(alerts);
  if (key === st.alertsKey) return;
  st.alertsKey = key;
  $('alerts').replaceChildren(...alerts.map(([kind, what, text]) => el('p', { class: `alert alert-${kind}`, 'data-alert': what }, text)));
}

/** What the proxy last saw of a --upstream server's upstream, else null. */
function upstreamOf(s) {
  return s.backend && s.backend.kind === 'upstream' ? s.backend.upstream || null : null;
}

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function renderServers(st, now) {
  // Without the stream or the API, what is shown is only the last known state: say so.
  const outdated = st.stream === 'down' || Boolean(st.apiError);
  $('content').classList.toggle('outdated', outdated);
  const ids = serverIds(st);
  const box = $('servers');
  const ordered = ids.map((id) => {
    const s = serverInfo(st, id);
    const card = cardOf(st, id);
    const down = s.status === 'fatal' || s.status === 'backoff' || s.status === 'stopped';
    card.article.className = `card server${s.stale ? ' is-stale' : ''}${down ? ' is-down' : ''}`;
    const badges = el('div', { class: 'badges' }, el('span', { class: `badge st-${s.status}`, 'data-status': s.status }, s.status));
    if (s.stale) badges.append(el('span', { class: 'badge st-stale', 'data-stale': '' }, 'stale'));
    if (outdated) badges.append(el('span', { class: 'badge st-unknown', 'data-outdated': '' }, 'last known'));
    const up = upstreamOf(s);
    if (up && up.reachable === false) badges.append(el('span', { class: 'badge st-fatal', 'data-upstream-down': '', title: up.error || '' }, 'upstream down'));
    card.badges.replaceChildren(badges);
    const facts = el('dl', { class: 'facts' });
    const fact = (k, v) => facts.append(el('dt', null, k), el('dd', null, v));
    if (s.backend && s.backend.kind === 'wrap') wrapFacts(fact, s);
    else if (s.backend && s.backend.kind !== 'builtin') fact('Backend', el('code', { class: 'clip', title: s.backend.target || '' }, `${s.backend.kind} ${s.backend.target || ''}`.trim()));
    fact('Total sessions', String(s.total));
    fact('PID', s.pid ?? '—');
    if (s.restarts !== null) fact('Restarts', String(s.restarts));
    if (s.startedAt && s.status !== 'stopped') fact('Up for', duration(now - Date.parse(s.startedAt)));
    const hb = s.writtenAt ? now - Date.parse(s.writtenAt) : s.heartbeatAgeMs !== null ? s.heartbeatAgeMs + (now - s.heartbeatAt) : null;
    if (hb !== null) fact('Last snapshot', ago(new Date(now - hb).toISOString(), now));
    if (s.snapshotError) fact('Snapshot error', s.snapshotError);
    card.body.replaceChildren(
      el('div', { class: 'big' }, String(s.active), ' ', el('small', null, s.active === 1 ? 'active connection' : 'active connections')),
      el(
        'p',
        { class: 'eras', 'data-eras': '', title: 'Legacy: sessions (protocol 2025 and before). Modern: sessionless clients (2026-07-28 on) seen within the client window.' },
        el('span', { class: 'era era-legacy', 'data-era': 'legacy' }, `${s.byEra.legacy} legacy`),
        ' · ',
        el('span', { class: 'era era-modern', 'data-era': 'modern' }, `${s.byEra.modern} modern`),
      ),
      facts,
      s.mcpUrl ? el('p', { class: 'endpoint', title: 'MCP endpoint' }, el('code', null, s.mcpUrl)) : '',
    );
    // Only servers this API spawned can be controlled (an `external` one has no supervisor here).
    if (st.controls) st.controls.serverControls(card.controls, id, s.status);
    return card.article;
  });
  for (const id of [...st.cards.keys()]) if (!ids.includes(id)) st.cards.delete(id);
  if (!ordered.length) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No server known yet.'));
    return;
  }
  // Cards stay in the page from one render to the next (a focused button keeps its focus):
  // only what is out of place moves.
  if (box.firstChild && !box.firstChild.matches('article')) box.replaceChildren();
  ordered.forEach((card, i) => {
    if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
  });
  while (box.children.length > ordered.length) box.lastChild.remove();
}

/** The card of server `id`, made once: its head, a body redrawn on every render, its controls. */
function cardOf(st, id) {
  let card = st.cards.get(id);
  if (card) return card;
  const badges = el('div', { class: 'badges-box' });
  const body = el('div', { class: 'server-body' });
  const controls = el('div', { class: 'controls', 'aria-label': `Control of server ${id}`, role: 'group', hidden: true });
  const article = el('article', { class: 'card server', 'data-server': id, 'aria-label': `Server ${id}` }, el('div', { class: 'server-head' }, el('h3', null, id), badges), body, controls);
  card = { article, badges, body, controls };
  st.cards.set(id, card);
  return card;
}

function renderTable(st, now) {
  const ids = serverIds(st);
  const conns = [];
  let total = 0;
  const filter = serverFilter(st, ids);
  for (const id of ids) {
    const d = st.stats.get(id);
    if (!d || (filter && id !== filter)) continue;
    total += d.data.activeConnections;
    for (const c of d.data.connections) conns.push({ id, c });
  }
  conns.sort((a, b) => Date.parse(b.c.connectedAt) - Date.parse(a.c.connectedAt));
  const table = $('connections');
  table.classList.toggle('multi', ids.length > 1 && !filter);
  // The column of stdio processes (--command) only when some session has one.
  table.classList.toggle('has-process', conns.some(({ c }) => c.process));
  const tbody = table.tBodies[0];
  const keep = new Set();
  const ordered = conns.map(({ id, c }) => {
    const key = `${id}/${c.sessionId}`;
    keep.add(key);
    let row = st.rows.get(key);
    if (!row) {
      row = el('tr', { 'data-session': c.sessionId, 'data-server': id });
      for (let i = 0; i < 10; i++) row.append(el('td'));
      row.cells[7].className = 'num';
      row.cells[8].className = 'num col-process';
      row.cells[4].className = 'ua';
      row.cells[2].className = 'era-cell';
      row.cells[1].className = 'client';
      row.cells[0].className = 'col-server';
      row.cells[9].className = 'session';
      // What a client sent can be long: clipped by CSS, the whole value in the title.
      row.cells[3].append(el('div', { class: 'clip' }));
      row.cells[4].append(el('div', { class: 'clamp' }));
      // Rows that arrive after the first data flash once; those there at load do not.
      if (now - st.openedAt > 3000) row.classList.add('is-new');
      st.rows.set(key, row);
    }
    const name = c.clientInfo ? c.clientInfo.name : 'unknown client';
    const version = c.clientInfo && c.clientInfo.version ? ` ${c.clientInfo.version}` : '';
    const client = row.cells[1];
    if (client.dataset.v !== name + version) {
      client.dataset.v = name + version;
      delete client.dataset.by;
      client.replaceChildren(el('div', { class: 'clip', title: name + version }, el('strong', null, name), el('span', { class: 'muted' }, version)));
    }
    // A wrap's client: the application that launched it, under its name.
    const launcher = c.launchedBy ? `launched by ${launcherText(c.launchedBy)}` : '';
    if (client.dataset.by !== launcher) {
      client.dataset.by = launcher;
      client.querySelector('.launched-by')?.remove();
      if (launcher) client.append(el('div', { class: 'clip muted launched-by', title: launcher }, launcher));
    }
    setText(row.cells[0], id);
    const era = eraOf(c);
    if (row.cells[2].dataset.era !== era) {
      row.cells[2].dataset.era = era;
      row.cells[2].replaceChildren(el('span', { class: `badge era-badge era-${era}`, title: era === 'modern' ? 'Sessionless client (protocol 2026-07-28 on): connected while it sends requests' : 'Session (initialize, Mcp-Session-Id)' }, era));
    }
    // A pipe (wrap) has no address: its transport instead, never the word null.
    const stdio = c.transport === 'stdio';
    setClipped(row.cells[3].firstChild, c.clientIP === null || c.clientIP === undefined ? (stdio ? '- (stdio)' : '-') : c.clientIP);
    row.cells[3].dataset.transport = c.transport || 'http';
    setClipped(row.cells[4].firstChild, c.userAgent || '—');
    setText(row.cells[5], duration(now - Date.parse(c.connectedAt)));
    setText(row.cells[6], ago(c.lastActivity, now) + (c.lastMethod ? ` · ${String(c.lastMethod).slice(0, 64)}` : ''));
    setText(row.cells[7], String(c.requestCount));
    const proc = c.process;
    setText(row.cells[8], proc ? (proc.rssBytes === null ? '—' : mib(proc.rssBytes)) : '');
    row.cells[8].title = proc ? `pid ${proc.pid} (memory of its process group, as of the last heartbeat)` : '';
    const sess = row.cells[9];
    // The session's id, and the button that ends it (none for a sessionless client).
    if (!sess.firstChild) sess.append(el('code', { title: c.sessionId }, c.sessionId.slice(0, 8)), st.controls ? st.controls.endButton(id, c) : '');
    return row;
  });
  for (const key of [...st.rows.keys()]) if (!keep.has(key)) st.rows.delete(key);
  if (ordered.length) {
    // Only move what is out of place: rows keep focus, selection and their arrival flash.
    ordered.forEach((row, i) => {
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    });
    while (tbody.children.length > ordered.length) tbody.lastChild.remove();
  } else {
    const text = st.stats.size === 0 ? 'Waiting for data…' : 'No active connections.';
    const empty = tbody.querySelector('td.empty');
    if (empty) setText(empty, text);
    else tbody.replaceChildren(el('tr', null, el('td', { class: 'empty', colspan: 10 }, text)));
  }
  setText($('conns-count'), String(total));
  const latest = [...st.stats.values()].reduce((a, b) => (!a || b.data.timestamp > a.data.timestamp ? b : a), null);
  setText($('updated'), latest ? `updated ${clock(latest.data.timestamp)}` : '');
  document.title = `${total} active · mcp-monitor`;
}

/**
 * The server the connections table is filtered to (null: all), from the select above it, whose
 * options follow the servers known. A server that went away resets it to all.
 */
function serverFilter(st, ids) {
  const select = $('server-filter');
  const key = ids.join('\n');
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    const value = ids.includes(select.value) ? select.value : '';
    select.replaceChildren(el('option', { value: '' }, 'All servers'), ...ids.map((id) => el('option', { value: id }, id)));
    select.value = value;
  }
  select.closest('label').hidden = ids.length < 2;
  return ids.length > 1 && select.value ? select.value : null;
}

/** Sets the text of a clipped box and its title, which shows the whole value on hover. */
function setClipped(box, text) {
  setText(box, text);
  if (box.title !== text) box.title = text;
}

/**
 * The facts of a `wrap` server: the command it runs, the application that launched it and the
 * command's process, from its one connection (text only: a process name is anyone's to choose).
 */
function wrapFacts(fact, s) {
  const target = s.backend.target || '';
  fact('Command', el('code', { class: 'clip', title: target, 'data-wrap-command': '' }, target || '—'));
  const c = s.connections[0];
  if (c && c.launchedBy) fact('Launched by', el('span', { 'data-launched-by': '' }, launcherText(c.launchedBy)));
  if (c && c.process) fact('Process', el('span', { 'data-process': '' }, processText(c.process)));
}

/** `claude (pid 4242)`; a name the process table did not give is `unknown`. */
function launcherText(by) {
  return `${by.name === null || by.name === undefined ? 'unknown' : String(by.name)} (pid ${by.pid})`;
}

/** `pid 4243 · 12.0 MiB`. */
function processText(proc) {
  return `pid ${proc.pid}${proc.rssBytes === null || proc.rssBytes === undefined ? '' : ` · ${mib(proc.rssBytes)}`}`;
}

/** A top of the y axis that splits into 4 whole, round steps. */
function niceMax(v) {
  const raw = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
  return step * 4;
}

function renderChart(st, now) {
  const box = $('chart');
  const W = Math.max(320, box.clientWidth || 640);
  const H = 180;
  const L = 34, R = 10, T = 10, B = 22;
  // The span grows with the time the page has been open (1 to 10 minutes): no empty chart.
  const span = Math.min(WINDOW_MS, Math.ceil(Math.max(60_000, now - st.openedAt) / 60_000) * 60_000);
  const t0 = now - span;
  const ids = [...st.history.keys()].sort();
  let peak = 0;
  for (const id of ids) for (const p of st.history.get(id)) if (p.t >= t0 || p === st.history.get(id).at(-1)) peak = Math.max(peak, p.v);
  const yMax = niceMax(peak);
  const x = (t) => L + ((Math.max(t, t0) - t0) / span) * (W - L - R);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', preserveAspectRatio: 'none' });
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    root.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const label = svg('text', { class: 'axis', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' });
    label.textContent = Number.isInteger(v) ? String(v) : v.toFixed(1);
    root.append(label);
  }
  const minutes = span / 60_000;
  for (const i of [0, 1, 2]) {
    const label = svg('text', { class: 'axis', x: x(t0 + (i / 2) * span), y: H - 5, 'text-anchor': ['start', 'middle', 'end'][i] });
    const back = (minutes * (2 - i)) / 2;
    label.textContent = i === 2 ? 'now' : Number.isInteger(back) ? `−${back} min` : `−${back * 60} s`;
    root.append(label);
  }
  const summary = [];
  for (const id of ids) {
    const pts = st.history.get(id);
    if (!pts.length) continue;
    const color = colorOf(st, id);
    let d = `M${x(pts[0].t).toFixed(1)},${y(pts[0].v).toFixed(1)}`;
    for (const p of pts.slice(1)) d += `H${x(p.t).toFixed(1)}V${y(p.v).toFixed(1)}`;
    d += `H${x(now).toFixed(1)}`;
    const area = `${d}V${y(0)}H${x(pts[0].t).toFixed(1)}Z`;
    root.append(svg('path', { class: 'area', d: area, fill: color }));
    root.append(svg('path', { class: 'series', d, stroke: color, 'data-server': id }));
    summary.push(`${id}: ${pts.at(-1).v} now`);
  }
  root.setAttribute('aria-label', `Active connections over the last ${minutes} min. ${summary.join('; ') || 'No data yet.'}`);
  box.replaceChildren(root);
  const legend = $('legend');
  const key = ids.join('\n');
  if (legend.dataset.key !== key) {
    legend.dataset.key = key;
    legend.replaceChildren(...ids.map((id) => {
      const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
      sw.style.background = colorOf(st, id);
      return el('li', null, sw, id);
    }));
  }
}
