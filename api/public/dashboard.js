// mcp-monitor dashboard: plain browser ES modules, no build step. This entry wires the parts:
// data.js (state and formatting), socket.js (the link to the API and the token prompt),
// render.js (drawing), control.js (ending sessions, restarting servers), dom.js (the only way
// content enters the page: as text, never as HTML).
import { createControls } from './control.js';
import { createState } from './data.js';
import { $ } from './dom.js';
import { render } from './render.js';
import { createLink } from './socket.js';

const st = createState();
const draw = () => render(st);
const link = createLink(st, draw);
st.controls = createControls(st, { refresh: link.refresh, onAuth: link.askToken });

$('server-filter').addEventListener('change', draw);
setInterval(draw, 1000);
link.start();
