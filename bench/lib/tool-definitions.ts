/**
 * Tool definitions as a large real server lists them, for the catalog section: a name, a
 * title, a description of a sentence or two, and an `inputSchema` of a few described
 * properties (strings, numbers, enums, arrays, a format or bounds here and there), some with
 * annotations. The same `n` always gives the same tools; each is 300-800 bytes of JSON.
 */

/** A tool of a `tools/list` answer (the fields the bench's server lists). */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; properties: Record<string, Record<string, unknown>>; required: string[]; additionalProperties: false };
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean };
}

/** Smallest and largest definition, bytes of `JSON.stringify`. */
export const DEFINITION_BYTES = { min: 300, max: 800 } as const;

const AREAS = ['crm', 'billing', 'calendar', 'files', 'tickets', 'inventory', 'analytics', 'mail', 'hr', 'wiki'];
const VERBS = ['search', 'get', 'create', 'update', 'delete', 'list', 'export', 'archive', 'assign', 'sync'];
const NOUNS = ['contact', 'invoice', 'event', 'document', 'issue', 'item', 'report', 'message', 'employee', 'page', 'account', 'order'];
const PHRASES = [
  'Results are sorted by last modification, newest first.',
  'Requires the caller to have write access to the workspace.',
  'Deleted records are kept for 30 days and can be restored.',
  'Large result sets are paginated; pass the cursor of the previous page.',
  'Times are ISO-8601 in UTC unless a time zone is given.',
  'Fails with a validation error when a required field is missing.',
  'Only records visible to the current user are returned.',
  'The operation is applied atomically: all changes or none.',
];
const PROPS: [string, Record<string, unknown>][] = [
  ['query', { type: 'string', description: 'Free-text search over titles, bodies and tags.' }],
  ['id', { type: 'string', description: 'Identifier of the record, as returned by a search.' }],
  ['limit', { type: 'integer', minimum: 1, maximum: 500, description: 'Maximum number of results to return.' }],
  ['cursor', { type: 'string', description: 'Opaque cursor from the previous page of results.' }],
  ['status', { type: 'string', enum: ['open', 'pending', 'closed', 'archived'], description: 'Only records in this state.' }],
  ['since', { type: 'string', format: 'date-time', description: 'Only records changed at or after this time.' }],
  ['tags', { type: 'array', items: { type: 'string' }, description: 'Labels to attach; existing labels are kept.' }],
  ['owner', { type: 'string', format: 'email', description: 'Email address of the person responsible.' }],
  ['amount', { type: 'number', minimum: 0, description: 'Amount in the account currency, two decimals.' }],
  ['notify', { type: 'boolean', default: false, description: 'Send a notification to the people concerned.' }],
];

/** A small deterministic generator (mulberry32), so that every run lists the same tools. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bytesOf = (t: ToolDefinition) => Buffer.byteLength(JSON.stringify(t), 'utf8');

/** `n` distinct tools; see the file comment. */
export function toolDefinitions(n: number): ToolDefinition[] {
  const rnd = random(20261205);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const tools: ToolDefinition[] = [];
  for (let i = 0; i < n; i++) {
    const [area, verb, noun] = [pick(AREAS), pick(VERBS), pick(NOUNS)];
    const names = [...PROPS].sort(() => rnd() - 0.5).slice(0, 1 + Math.floor(rnd() * 5));
    const tool: ToolDefinition = {
      name: `${area}_${verb}_${noun}_${String(i).padStart(3, '0')}`,
      title: `${verb[0]!.toUpperCase()}${verb.slice(1)} ${noun} (${area})`,
      description: `${verb[0]!.toUpperCase()}${verb.slice(1)} a ${noun} in ${area}. ${rnd() < 0.6 ? pick(PHRASES) : ''}`.trim(),
      inputSchema: { type: 'object', properties: {}, required: [], additionalProperties: false },
      ...(rnd() < 0.4 && { annotations: verb === 'delete' ? { destructiveHint: true } : { readOnlyHint: verb === 'get' || verb === 'search' || verb === 'list', idempotentHint: true } }),
    };
    for (const [key, schema] of names) {
      // Properties go in while the definition stays within the largest size.
      const before = { ...tool.inputSchema.properties };
      tool.inputSchema.properties[key] = schema;
      if (rnd() < 0.5) tool.inputSchema.required.push(key);
      if (bytesOf(tool) > DEFINITION_BYTES.max) {
        tool.inputSchema.properties = before;
        tool.inputSchema.required = tool.inputSchema.required.filter((k) => k !== key);
      }
    }
    // Too small: more properties (optional ones) until it is the smallest realistic size.
    for (const [key, schema] of PROPS) {
      if (bytesOf(tool) >= DEFINITION_BYTES.min) break;
      tool.inputSchema.properties[key] ??= schema;
    }
    tools.push(tool);
  }
  return tools;
}
