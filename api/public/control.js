// Operator control from the page: end a session (DELETE api/mcp/servers/:id/connections/:sid)
// and restart, stop or start a server (POST api/mcp/servers/:id/<action>, JSON content type so
// that no other page can send it without CORS). Each asks for a confirmation first and says how
// it went in the notice line; with --token the token typed in goes with every request.
import { $, el, setText } from './dom.js';
import { BASE, authHeaders } from './data.js';

/** What a server card offers in each supervisor state. */
const ACTIONS_BY_STATUS = {
  running: ['restart', 'stop'],
  starting: ['restart', 'stop'],
  backoff: ['restart', 'stop'],
  fatal: ['start'],
  stopped: ['start'],
};
const LABEL = { restart: 'Restart', stop: 'Stop', start: 'Start' };
const CONFIRM = {
  restart: (id) => `Restart server "${id}"? Its sessions end and clients must reconnect.`,
  stop: (id) => `Stop server "${id}"? Its sessions end and it stays stopped until started.`,
  start: (id) => `Start server "${id}"?`,
};

/** Says `text` in the notice line (`kind`: ok, bad or wait). */
function notice(kind, text) {
  const box = $('notice');
  box.hidden = false;
  box.className = `notice notice-${kind}`;
  setText(box, text);
}

/** The API's one-line reason for a refusal (its error JSON), or the HTTP status. */
async function reasonOf(res) {
  try {
    const body = await res.json();
    if (body && body.error && typeof body.error.message === 'string') return body.error.message.slice(0, 300);
  } catch {
    // Not our error JSON (a proxy's page): the status says enough.
  }
  return `HTTP ${res.status}`;
}

/** Sends one control request; says how it went. */
async function send(st, method, path, doing, done, onAuth) {
  notice('wait', `${doing}…`);
  let res;
  try {
    const headers = { ...authHeaders(st), ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}) };
    res = await fetch(`${BASE}${path}`, { method, headers, body: method === 'POST' ? '{}' : undefined, cache: 'no-store' });
  } catch (err) {
    notice('bad', `${doing} failed: the API does not answer (${err.message}).`);
    return false;
  }
  if (res.status === 401) {
    notice('bad', `${doing} failed: the token was refused.`);
    onAuth();
    return false;
  }
  if (!res.ok) {
    notice('bad', `${doing} failed: ${await reasonOf(res)}`);
    return false;
  }
  notice('ok', done);
  return true;
}

/**
 * The page's controls: `endButton(id, c)` for a connection row, `serverControls(id, status)` for
 * a server card. `refresh()` is called after an action is accepted, `onAuth()` when the token was
 * refused.
 */
export function createControls(st, { refresh, onAuth }) {
  /** Keys of actions on their way: a second click waits for the first. */
  const pending = new Set();

  async function run(key, question, request) {
    if (pending.has(key) || !window.confirm(question)) return;
    pending.add(key);
    try {
      if (await request()) refresh();
    } finally {
      pending.delete(key);
    }
  }

  function endSession(serverId, sessionId) {
    const short = sessionId.slice(0, 8);
    return run(`end:${serverId}/${sessionId}`, `End session ${short}… on server "${serverId}"? The client's next request gets 404 and it has to start a new session.`, () =>
      send(st, 'DELETE', `api/mcp/servers/${encodeURIComponent(serverId)}/connections/${encodeURIComponent(sessionId)}`, `Ending session ${short}…`, `Session ${short}… on "${serverId}" is being ended.`, onAuth));
  }

  function serverAction(serverId, action) {
    return run(`server:${serverId}`, CONFIRM[action](serverId), () =>
      send(st, 'POST', `api/mcp/servers/${encodeURIComponent(serverId)}/${action}`, `${LABEL[action]} of "${serverId}"`, `${LABEL[action]} of "${serverId}" requested.`, onAuth));
  }

  /** The End button of a row, or nothing for a modern client (no session to end: it is gone when it stops asking). */
  function endButton(serverId, c) {
    if (c.era === 'modern') return '';
    const b = el('button', { type: 'button', class: 'small danger', 'data-action': 'end', 'aria-label': `End session ${c.sessionId.slice(0, 8)} of ${c.clientInfo ? c.clientInfo.name : 'unknown client'}` }, 'End');
    b.addEventListener('click', () => endSession(serverId, c.sessionId));
    return b;
  }

  /**
   * The buttons of a server card for `status`, kept in `box` (one box per card, reused across
   * renders so that a focused button stays focused): rebuilt only when the status changes.
   */
  function serverControls(box, serverId, status) {
    const actions = ACTIONS_BY_STATUS[status] || [];
    const key = actions.join(',');
    if (box.dataset.key === key) return box;
    box.dataset.key = key;
    box.replaceChildren(...actions.map((action) => {
      const b = el('button', { type: 'button', class: `small${action === 'stop' ? ' danger' : ''}`, 'data-action': action }, LABEL[action]);
      b.addEventListener('click', () => serverAction(serverId, action));
      return b;
    }));
    box.hidden = actions.length === 0;
    return box;
  }

  return { endButton, serverControls };
}
