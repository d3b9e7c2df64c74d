// Small DOM and formatting helpers shared by the board's views.

/**
 * Builds an element: el('td', { class: 'x', dataset: { id: 1 } }, 'text', child…).
 * Attributes starting with "on" become listeners; children may be strings, nodes or arrays.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

const pad = (n) => String(n).padStart(2, '0');

/** 3852 → "1h 04m 12s"; -182 → "overdue 3m 02s"; days shown past 24 h. */
export function formatRemaining(seconds) {
  const neg = seconds < 0;
  let s = Math.abs(Math.trunc(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  let text;
  if (d) text = `${d}d ${h}h ${pad(m)}m ${pad(s)}s`;
  else if (h) text = `${h}h ${pad(m)}m ${pad(s)}s`;
  else text = `${m}m ${pad(s)}s`;
  return neg ? 'overdue ' + text : text;
}

/** Minutes as "2 hours", "90 minutes", "1 day 2 hours". */
export function formatMinutes(min) {
  if (min == null) return '—';
  const m = Math.round(min);
  if (m < 120 && m % 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), r = m % 60;
  const parts = [];
  if (d) parts.push(`${d} day${d > 1 ? 's' : ''}`);
  if (h) parts.push(`${h} hour${h > 1 ? 's' : ''}`);
  if (r) parts.push(`${r} min`);
  return parts.join(' ') || '0 minutes';
}

const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** An RFC 3339 instant in the viewer's local time. */
export function formatTime(iso) {
  return iso ? dtf.format(new Date(iso)) : '—';
}

export const pct = (x) => (x == null ? '—' : (x * 100).toFixed(1) + ' %');

export const STATE_TEXT = {
  ON_TRACK: 'On track', AT_RISK: 'At risk', BREACHED: 'Breached', MET: 'Met', STOPPED: 'Stopped',
};
export const FAMILY_TEXT = {
  AZURE: 'Azure', MICROSOFT_365: 'Microsoft 365', DYNAMICS_365: 'Dynamics 365', ENTERPRISE_MOBILITY_SUITE: 'EMS',
};
export const humanize = (v) => (v ? String(v).toLowerCase().replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase())
  .replace(/\b(csp|mpn|ems|isv|sla)\b/gi, (w) => w.toUpperCase()) : '');

/** A state badge: colour and text, with data-state for tests and styles. */
export function stateBadge(state, tag = 'span') {
  return el(tag, { class: 'sla-state', dataset: { state } }, STATE_TEXT[state] || state);
}

/** Calls fn after `ms` without further calls. */
export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** A random UUID even outside a secure context (no crypto.randomUUID there). */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Renders errors of a GraphQL call: message, code, rule, help and every violation. */
export function errorList(err) {
  const errors = err && err.errors ? err.errors : [{ message: String(err && err.message || err) }];
  return el('ul', { class: 'errors', role: 'alert' }, errors.map((e) => {
    const x = e.extensions || {};
    return el('li', { dataset: { code: x.code || '', rule: x.rule || '' } },
      el('strong', {}, x.code ? x.code + (x.rule ? ` · ${x.rule}` : '') + ': ' : ''), e.message,
      x.help ? el('p', { class: 'help' }, x.help) : null,
      x.isvSupport ? el('p', { class: 'help' }, 'ISV support: ',
        [x.isvSupport.publisher, x.isvSupport.websiteUrl, x.isvSupport.email, x.isvSupport.phone].filter(Boolean).join(' · ')) : null,
      x.allowed ? el('p', { class: 'help' }, 'Allowed: ' + [].concat(x.allowed).join(', ')) : null,
      Array.isArray(x.violations) && x.violations.length ? el('div', { class: 'violations' }, 'Every rule that refused:',
        el('ul', {}, x.violations.map((v) => el('li', { dataset: { rule: v.rule || v.field || '' } },
          el('strong', {}, (v.rule || v.field || '') + ': '), v.message,
          v.help ? el('p', { class: 'help' }, v.help) : null)))) : null);
  }));
}
