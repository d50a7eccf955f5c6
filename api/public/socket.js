// The page's link to the API: server states from GET api/mcp/servers (polled), connections live
// over socket.io (namespace /monitoring, one subscription per server), the token prompt, and
// the pill that says whether the data is live. With --token, the token typed in is kept in
// sessionStorage and sent as `Authorization: Bearer` (fetch) and `auth.token` (socket.io).
import { $, setText } from './dom.js';
import { BASE, POLL_MS, TOKEN_KEY, authHeaders, record } from './data.js';

/** Draws the stream pill from `st.stream`. */
export function renderStream(st) {
  const p = $('stream');
  const [cls, text] = {
    live: ['pill-ok', 'Live'],
    connecting: ['pill-wait', 'Connecting…'],
    down: ['pill-bad', 'Disconnected — retrying'],
    auth: ['pill-wait', 'Token needed'],
  }[st.stream];
  p.className = `pill ${cls}`;
  p.dataset.state = st.stream;
  setText($('stream-text'), text);
}

/**
 * The link of one page to the API, updating `st` and calling `render()` after each change.
 * Wires the token form at once; `start()` loads the servers, then polls them and opens the
 * socket (or asks for the token).
 */
export function createLink(st, render) {
  /** Servers subscribed to on the current socket.io connection. */
  const subscribed = new Set();

  async function loadServers() {
    let res;
    try {
      res = await fetch(`${BASE}api/mcp/servers`, { headers: authHeaders(st), cache: 'no-store' });
    } catch (err) {
      st.apiError = `The API does not answer (${err.message}).`;
      render();
      return 'error';
    }
    if (res.status === 401) {
      askToken(st.token ? 'That token was refused.' : '');
      return 'auth';
    }
    if (!res.ok) {
      st.apiError = `The API answered HTTP ${res.status} to api/mcp/servers.`;
      render();
      return 'error';
    }
    const body = await res.json();
    const at = Date.now();
    const seen = new Set();
    for (const summary of body.servers) {
      seen.add(summary.serverId);
      st.servers.set(summary.serverId, { summary, at });
      if (summary.activeConnections !== undefined && !st.stats.has(summary.serverId)) record(st, summary.serverId, summary.activeConnections, at);
    }
    for (const id of [...st.servers.keys()]) if (!seen.has(id)) st.servers.delete(id);
    st.apiError = null;
    subscribeAll();
    render();
    return 'ok';
  }

  function connectSocket() {
    // The global of socket.io/socket.io.min.js, loaded by a classic script before this module.
    const io = globalThis.io;
    if (typeof io !== 'function') {
      st.stream = 'down';
      st.apiError = 'The socket.io client did not load (socket.io/socket.io.min.js).';
      render();
      return;
    }
    if (st.socket) {
      if (!st.socket.connected) st.socket.connect();
      return;
    }
    const socket = io('/monitoring', {
      path: `${BASE}socket.io`,
      auth: (cb) => cb({ token: st.token }),
    });
    st.socket = socket;
    socket.on('connect', () => {
      st.stream = 'live';
      subscribeAll(true);
      render();
    });
    socket.on('disconnect', (reason) => {
      st.stream = 'down';
      render();
      // socket.io retries by itself, except after the server said goodbye (a restart of the API).
      if (reason === 'io server disconnect') setTimeout(() => st.stream !== 'auth' && socket.connect(), 2000);
    });
    socket.on('connect_error', (err) => {
      if (err && err.message === 'unauthorized') {
        socket.disconnect();
        askToken('That token was refused.');
        return;
      }
      st.stream = 'down';
      render();
    });
    socket.on('mcp_connections_data', (data) => {
      const at = Date.now();
      st.stats.set(data.serverId, { data, at });
      record(st, data.serverId, data.activeConnections, at);
      render();
    });
  }

  function subscribeAll(reconnected) {
    const socket = st.socket;
    if (!socket || !socket.connected) return;
    if (reconnected) subscribed.clear();
    for (const id of st.servers.keys()) {
      if (subscribed.has(id)) continue;
      subscribed.add(id);
      socket.emit('subscribe_mcp_connections', { serverId: id }, (ack) => {
        if (!ack || ack.status !== 'subscribed') subscribed.delete(id);
      });
    }
  }

  function askToken(message) {
    st.stream = 'auth';
    clearInterval(st.pollTimer);
    st.pollTimer = null;
    if (st.socket) st.socket.disconnect();
    $('content').hidden = true;
    $('token-form').hidden = false;
    $('token-error').textContent = message || '';
    renderStream(st);
    $('token-input').focus();
  }

  async function start() {
    st.stream = 'connecting';
    renderStream(st);
    const r = await loadServers();
    if (r === 'auth') return;
    $('token-form').hidden = true;
    $('content').hidden = false;
    st.pollTimer ??= setInterval(loadServers, POLL_MS);
    connectSocket();
    render();
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    st.token = $('token-input').value.trim();
    sessionStorage.setItem(TOKEN_KEY, st.token);
    $('token-error').textContent = '';
    start();
  });

  return { start, refresh: loadServers, askToken: (message) => askToken(message ?? 'That token was refused.') };
}
