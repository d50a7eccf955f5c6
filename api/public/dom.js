// The only ways the dashboard puts content into the page. Everything shown comes from strangers
// (client names and versions, user agents, session ids, IPs): it goes in as text nodes and
// attribute values, never as HTML (no innerHTML, no insertAdjacentHTML anywhere in the page).

const SVG = 'http://www.w3.org/2000/svg';

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * A new HTML element: `attrs` set as attributes (`class` as the class name; `true` as an empty
 * attribute; `undefined`, `null` and `false` left out), `children` appended as nodes or as text.
 */
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** A new SVG element with these attributes. */
export function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

/** Sets the text of `node`, touching the DOM only when it changes (keeps selections). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
