// mcp-monitor dashboard: plain browser ES modules, no build step. This entry wires the parts:
// data.js (state and formatting), socket.js (the link to the API and the token prompt),
// render.js (drawing), dom.js (the only way content enters the page: as text, never as HTML).
import { createState } from './data.js';
import { render } from './render.js';
import { createLink } from './socket.js';

const st = createState();
const draw = () => render(st);
const link = createLink(st, draw);

setInterval(draw, 1000);
link.start();
