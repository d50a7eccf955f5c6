// What the dashboard knows: the page's state, the history of active connections, and the
// formatting of times and durations. No DOM here.

export const TOKEN_KEY = 'mcp-monitor:token';
/** The chart's widest span, and how long a point is kept. */
export const WINDOW_MS = 10 * 60 * 1000;
/** How often GET api/mcp/servers is polled. */
export const POLL_MS = 2000;
const COLORS = ['#1f6feb', '#bf3989', '#1a7f37', '#bc4c00', '#8250df', '#0a7ea4', '#cf222e', '#6e7781'];
/** The page's folder: the API may be mounted under a prefix. */
export const BASE = location.pathname.replace(/[^/]*$/, '');

/** The state of one page: made once by the entry and passed to every part. */
export function createState() {
  return {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    /** id -> {summary, at}: GET api/mcp/servers */
    servers: new Map(),
    /** id -> {data, at}: the latest mcp_connections_data */
    stats: new Map(),
    /** id -> [{t, v}]: active connections, one point per change */
    history: new Map(),
    /** 'connecting' | 'live' | 'down' | 'auth' */
    stream: 'connecting',
    apiError: null,
    socket: null,
    pollTimer: null,
    /** `${serverId}/${sessionId}` -> its table row, kept across renders */
    rows: new Map(),
    /** serverId -> its card's elements, kept across renders */
    cards: new Map(),
    /** serverId -> its block of the Tools view (tools-view.js), kept across renders */
    tools: new Map(),
    /** The End and Restart/Stop/Start buttons (control.js), once the page is wired */
    controls: null,
    alertsKey: '',
    openedAt: Date.now(),
  };
}

/** `ms` as "42 s", "3 min 05 s", "2 h 07 min" or "1 d 4 h". */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** How long before `now` the time `iso` was: "just now" or "… ago". */
export function ago(iso, now) {
  const ms = now - Date.parse(iso);
  return ms < 2000 ? 'just now' : `${duration(ms)} ago`;
}

/** The local time of day of `iso`. */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString();
}

/** The headers that carry the token, if one was typed in. */
export function authHeaders(st) {
  return st.token ? { Authorization: `Bearer ${st.token}` } : {};
}

/** Every server known from either source, sorted. */
export function serverIds(st) {
  return [...new Set([...st.servers.keys(), ...st.stats.keys()])].sort();
}

/** The chart colour of a server. */
export function colorOf(st, id) {
  return COLORS[serverIds(st).indexOf(id) % COLORS.length] || COLORS[0];
}

/** What is known of a server, the newer source winning for what both carry. */
export function serverInfo(st, id) {
  const s = st.servers.get(id);
  const d = st.stats.get(id);
  const sum = s ? s.summary : {};
  // While the stream is live it carries every snapshot, so it is never behind a poll (a poll
  // answered after a push may hold the state from before it: the count after an End, say).
  const live = d && (st.stream === 'live' || !s || d.at >= s.at) ? d.data : null;
  return {
    id,
    status: sum.status || 'external',
    pid: sum.pid ?? (d ? d.data.pid : null),
    restarts: sum.restarts ?? null,
    startedAt: sum.startedAt ?? null,
    mcpUrl: sum.mcpUrl ?? null,
    heartbeatAgeMs: sum.heartbeatAgeMs ?? null,
    heartbeatAt: s ? s.at : null,
    writtenAt: d ? d.data.writtenAt : null,
    active: live ? live.activeConnections : sum.activeConnections ?? 0,
    // Connections by protocol era; one without `era` (an older writer) is a legacy session.
    byEra: live ? countByEra(live.connections) : sum.activeByEra || { legacy: sum.activeConnections ?? 0, modern: 0 },
    total: live ? live.totalConnections : sum.totalConnections ?? 0,
    stale: live ? live.stale : Boolean(sum.stale),
    snapshotError: (live ? live.snapshotError : sum.snapshotError) || null,
    hasSnapshot: Boolean(d) || Boolean(sum.snapshotStatus),
    backend: live ? live.backend || null : null,
    /** The connections of the latest snapshot (a `wrap` server has its one client here). */
    connections: live ? live.connections : [],
  };
}

/** Connections of each era: `modern` only when a connection says so (shared/eras.ts). */
export function countByEra(connections) {
  const n = { legacy: 0, modern: 0 };
  for (const c of connections) n[eraOf(c)] += 1;
  return n;
}

/** The era of a connection: `modern` or `legacy`. */
export function eraOf(c) {
  return c.era === 'modern' ? 'modern' : 'legacy';
}

/** Adds a point to a server's history of active connections (only when the value changes). */
export function record(st, id, v, t = Date.now()) {
  let h = st.history.get(id);
  if (!h) st.history.set(id, (h = []));
  if (h.length && h[h.length - 1].v === v) return;
  h.push({ t, v });
  // Keep one point before the window so that the line starts at its left edge.
  while (h.length > 2 && h[1].t < t - WINDOW_MS) h.shift();
}
