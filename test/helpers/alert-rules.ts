/**
 * Readers of the alerting rules (alerts/mcp-monitor.rules.yml) for the tests: the rules of the
 * file, and the selectors and grouping labels of a PromQL expression.
 */
import path from 'node:path';
import { ROOT } from './processes.js';

/** The rules file that the package ships. */
export const RULES_FILE = path.join(ROOT, 'alerts', 'mcp-monitor.rules.yml');

export interface AlertRule {
  alert: string;
  expr: string;
  for: string | undefined;
}

/**
 * The alerting rules of `text`, read line by line: this file's shape (`- alert:`, then `expr:`
 * on one line or as a `|` block, and `for:`), which is no general YAML reader. The tests below
 * check that it found as many rules as promtool does.
 */
export function readAlertRules(text: string): AlertRule[] {
  const rules: AlertRule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const alert = /^\s*- alert:\s*(\S+)\s*$/.exec(line);
    if (alert) {
      rules.push({ alert: alert[1]!, expr: '', for: undefined });
      continue;
    }
    const rule = rules.at(-1);
    const key = /^(\s*)(expr|for):\s*(.*?)\s*$/.exec(line);
    if (!rule || !key) continue;
    const [, indent, name, rest] = key as unknown as [string, string, string, string];
    if (name === 'for') {
      rule.for = rest;
      continue;
    }
    if (!/^[|>]-?$/.test(rest)) {
      rule.expr = rest;
      continue;
    }
    const body: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === '' || /^\s*/.exec(lines[i + 1]!)![0].length > indent.length)) body.push(lines[++i]!.trim());
    rule.expr = body.join('\n').trim();
  }
  return rules;
}

export interface Selector {
  name: string;
  matchers: { label: string; op: string; value: string }[];
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/**
 * The vector selectors of a PromQL expression and the labels it groups or matches on (`by`,
 * `on`, `ignoring`; not `without`, which may name a label that is absent). Enough PromQL for
 * these rules: ranges, grouping clauses, functions, keywords and numbers are set aside, and
 * what is left are metric names, each with its `{…}` matchers.
 */
export function selectorsOf(expr: string): { selectors: Selector[]; grouping: string[] } {
  const grouping: string[] = [];
  const rest = expr
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, kw: string, labels: string) => {
      if (kw !== 'without') grouping.push(...labels.split(',').map((l) => l.trim()).filter(Boolean));
      return ' ';
    });
  const selectors: Selector[] = [];
  for (const m of rest.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?/g)) {
    const [, name, braces, call] = m as unknown as [string, string, string | undefined, string | undefined];
    if (call || PROMQL_KEYWORDS.has(name)) continue;
    const matchers = [...(braces ?? '').matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(([, label, op, value]) => ({ label: label!, op: op!, value: value! }));
    selectors.push({ name, matchers });
  }
  return { selectors, grouping };
}
