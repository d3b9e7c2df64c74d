// The live SLA board: sign-in, the open requests with their live countdown (slaCountdown),
// the alert strip (slaAlerts), filters kept in the URL, and wiring of the other views.
import { gql, setToken, setAuthErrorHandler, ws, AuthError } from '/board/gql.js';
import { el, $, formatRemaining, stateBadge, FAMILY_TEXT, formatTime } from '/board/util.js';
import { openRequest, closeRequest } from '/board/request.js';
import { initFileForm } from '/board/fileform.js';
import { initReports } from '/board/reports.js';

const TOKEN_KEY = 'support-gateway:token'; // shared with /graphiql
const OPEN = ['NEW', 'OPEN', 'IN_PROGRESS', 'WAITING_ON_PARTNER'];
const FILTER_KEYS = ['customer', 'severity', 'family', 'state', 'agent'];

ws.onStatus = showLive;

const ROW_FIELDS = `id title severity status productFamily upstreamId
  customer { id companyName } createdBy { id displayName }
  sla { state dueAt remainingSeconds stoppedAt }`;

// Rows shown, by id: { node, tr }. `rejected` maps countdown ids that failed the client-side
// filters (agent, SLA state) to their state then, so they are fetched again only once their
// state changes, not on every tick.
const rows = new Map();
const rejected = new Map();
const fetching = new Set();
let filters = {};
let listGen = 0; // bumped on every re-query; late answers of older ones are dropped
let unsubs = [];
let readiness = { list: false, countdown: false };
let started = false;

// ---------------------------------------------------------------- sign-in

function showLive(status) {
  const live = $('#live');
  live.dataset.status = status;
  live.textContent = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' }[status] || status;
}

function showSignin(message) {
  stopBoard();
  closeRequest(false); // keeps ?request= so the view comes back after signing in
  ws.stop();
  started = false;
  $('#main').hidden = true;
  $('#who').hidden = true;
  $('#signin').hidden = false;
  const note = $('#auth-message');
  note.hidden = !message;
  note.textContent = message ? `Please sign in again: ${message}` : '';
  offerDemoAgents();
  $('#token-input').focus();
}

let demoOffered = false;
async function offerDemoAgents() {
  if (demoOffered) return;
  demoOffered = true;
  try {
    const res = await fetch('/dev/agents');
    if (!res.ok) return; // not a development gateway
    const agents = await res.json();
    const select = $('#demo-agent');
    for (const a of agents) {
      select.append(el('option', { value: a.token }, `${a.name} <${a.email}> · ${a.role} · ${a.partner}`));
    }
    $('#demo-form').hidden = false;
  } catch (_) { /* no demo sign-in */ }
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  setToken('');
  showSignin('');
}

async function signIn(token) {
  localStorage.setItem(TOKEN_KEY, token);
  setToken(token);
  $('#auth-message').hidden = true;
  let boot;
  try {
    boot = await gql(`query Boot {
      viewer { agent { id email displayName role } partner { id name kind
        agents { id displayName email removedAt }
        ownSubscriptions(first: 100) { nodes { id offerName productFamily status } } } }
      customers(first: 100) { nodes { id companyName language } } }`);
  } catch (e) {
    if (!(e instanceof AuthError)) showSignin(e.message);
    return;
  }
  const { agent, partner } = boot.viewer;
  $('#viewer').textContent = `${agent.displayName} (${agent.email}, ${agent.role.replace(/_/g, ' ').toLowerCase()}) · ${partner.name}`;
  $('#who').hidden = false;
  $('#signin').hidden = true;
  $('#main').hidden = false;
  fillFilterOptions(boot);
  started = true;
  restoreFilters();
  ws.start();
  startBoard();
  initFileForm(boot);
  initReports();
  const requestId = new URLSearchParams(location.search).get('request');
  if (requestId) openRequest(requestId, false);
}

setAuthErrorHandler((message) => {
  localStorage.removeItem(TOKEN_KEY);
  showSignin(message || 'the token is missing or expired');
});

// ---------------------------------------------------------------- filters

function fillFilterOptions(boot) {
  const form = $('#filters');
  const customer = form.elements.customer;
  customer.length = 1;
  for (const c of boot.customers.nodes) customer.append(el('option', { value: c.id }, c.companyName));
  const agent = form.elements.agent;
  agent.length = 1;
  for (const a of boot.viewer.partner.agents) {
    agent.append(el('option', { value: a.id }, a.displayName + (a.removedAt ? ' (removed)' : '')));
  }
}

function restoreFilters() {
  const params = new URLSearchParams(location.search);
  const form = $('#filters');
  filters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k) || '';
    const select = form.elements[k];
    // A shared link may name a customer or agent this viewer does not see: keep it anyway.
    if (v && ![...select.options].some((o) => o.value === v)) select.append(el('option', { value: v }, v));
    select.value = v;
    if (v) filters[k] = v;
  }
}

function writeFilters() {
  const params = new URLSearchParams(location.search);
  for (const k of FILTER_KEYS) {
    if (filters[k]) params.set(k, filters[k]); else params.delete(k);
  }
  const qs = params.toString();
  history.replaceState(history.state, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
}

function onFiltersChanged() {
  const form = $('#filters');
  filters = {};
  for (const k of FILTER_KEYS) if (form.elements[k].value) filters[k] = form.elements[k].value;
  writeFilters();
  startBoard();
}

/** The filter of the list query: open statuses plus what the viewer picked. */
function listFilter() {
  const f = eventFilter();
  f.status = OPEN;
  if (filters.state) f.slaState = filters.state;
  return f;
}

/** The subscriptions' filter (ServiceRequestEventFilter has no SLA state). */
function eventFilter() {
  const f = {};
  if (filters.agent) f.createdBy = [filters.agent];
  if (filters.customer) f.customer = [filters.customer];
  if (filters.severity) f.severity = [filters.severity];
  if (filters.family) f.productFamily = [filters.family];
  return f;
}

/** Whether a request arriving through a subscription belongs in the table: open, in the
 *  SLA state picked (subscriptions cannot filter on it) and, to be safe, by the agent. */
function passesClientFilters(node) {
  if (!OPEN.includes(node.status)) return false;
  if (filters.agent && (!node.createdBy || node.createdBy.id !== filters.agent)) return false;
  if (filters.state && node.sla.state !== filters.state) return false;
  return true;
}

// ---------------------------------------------------------------- the list

function stopBoard() {
  for (const u of unsubs) u();
  unsubs = [];
}

/** (Re)queries the list and (re)subscribes to countdown, alerts and events. */
async function startBoard() {
  stopBoard();
  const gen = ++listGen;
  rows.clear();
  rejected.clear();
  readiness = { list: false, countdown: false };
  const status = $('#list-status');
  status.textContent = 'Loading…';
  const countdownFilter = { ...eventFilter(), status: OPEN };
  unsubs.push(ws.subscribe(
    `subscription Countdown($filter: ServiceRequestEventFilter) {
      slaCountdown(filter: $filter, intervalSeconds: 1) { at items { serviceRequestId state dueAt remainingSeconds } } }`,
    { filter: countdownFilter },
    { next: (p) => gen === listGen && onCountdown(p), error: (e) => { status.textContent = 'Countdown: ' + e.message; } },
  ));
  unsubs.push(ws.subscribe(
    `subscription Alerts($filter: ServiceRequestEventFilter) {
      slaAlerts(filter: $filter) { state previousState at serviceRequest { ${ROW_FIELDS} } } }`,
    { filter: eventFilter() },
    { next: (p) => gen === listGen && onAlert(p) },
  ));
  // Any change to a matching request (no status filter: a resolved one must leave the list).
  unsubs.push(ws.subscribe(
    `subscription ListEvents($filter: ServiceRequestEventFilter) {
      serviceRequestEvents(filter: $filter) { kind serviceRequest { ${ROW_FIELDS} } } }`,
    { filter: eventFilter() },
    { next: (p) => gen === listGen && onEvent(p) },
  ));
  let data;
  try {
    data = await gql(`query Open($filter: ServiceRequestFilter) {
      serviceRequests(first: 100, filter: $filter, orderBy: { field: DUE_AT, direction: ASC }) {
        totalCount nodes { ${ROW_FIELDS} } } }`, { filter: listFilter() });
  } catch (e) {
    if (!(e instanceof AuthError)) status.textContent = 'Could not load the requests: ' + e.message;
    return;
  }
  if (gen !== listGen) return;
  const tbody = $('#requests tbody');
  tbody.textContent = '';
  for (const node of data.serviceRequests.nodes) {
    if (filters.agent && (!node.createdBy || node.createdBy.id !== filters.agent)) continue;
    addRow(node, false);
  }
  sortRows();
  const more = data.serviceRequests.totalCount > 100 ? ` (the 100 due soonest of ${data.serviceRequests.totalCount})` : '';
  status.dataset.count = rows.size;
  updateCount(more);
  readiness.list = true;
  markReady();
}

function updateCount(more = '') {
  const n = rows.size;
  $('#list-status').textContent = n ? `${n} open request${n === 1 ? '' : 's'}${more}` : 'No open request matches these filters.';
}

function markReady() {
  if (readiness.list && readiness.countdown) document.body.dataset.ready = '1';
}

function cell(label, ...content) {
  return el('td', { dataset: { label } }, ...content);
}

function addRow(node, sort = true) {
  const tr = el('tr', { tabindex: '0', dataset: { requestId: node.id } });
  rows.set(node.id, { node, tr });
  renderRow(rows.get(node.id));
  $('#requests tbody').append(tr);
  if (sort) { sortRows(); updateCount(); }
}

function renderRow(row) {
  const n = row.node;
  const link = el('a', { href: '?request=' + encodeURIComponent(n.id), class: 'title' }, n.title);
  const countdown = el('td', { class: 'countdown', dataset: { label: 'Time left' } });
  row.tr.replaceChildren(
    cell('Request', link),
    countdown,
    cell('SLA', stateBadge(n.sla.state)),
    cell('Severity', el('span', { class: 'sev', dataset: { severity: n.severity } }, n.severity)),
    cell('Customer', n.customer ? n.customer.companyName : 'Own tenant'),
    cell('Product', FAMILY_TEXT[n.productFamily] || n.productFamily),
    cell('Microsoft case', n.upstreamId || '—'),
    cell('Filed by', n.createdBy ? n.createdBy.displayName : '—'),
  );
  setCountdown(countdown, n.sla.remainingSeconds, !!n.sla.stoppedAt);
}

function setCountdown(td, seconds, stopped) {
  td.dataset.remaining = seconds;
  td.classList.toggle('overdue', seconds < 0);
  td.textContent = formatRemaining(seconds) + (stopped ? ' (clock stopped)' : '');
}

function setState(row, state) {
  if (row.node.sla.state === state) return;
  row.node.sla.state = state;
  row.tr.querySelector('.sla-state').replaceWith(stateBadge(state));
}

function sortRows() {
  const tbody = $('#requests tbody');
  const sorted = [...rows.values()].sort((a, b) => Date.parse(a.node.sla.dueAt) - Date.parse(b.node.sla.dueAt));
  for (const r of sorted) tbody.append(r.tr); // append moves: the result is in due order
}

// ---------------------------------------------------------------- live updates

function onCountdown(payload) {
  const cd = payload.data && payload.data.slaCountdown;
  if (!cd) return;
  readiness.countdown = true;
  const missing = [];
  let moved = false;
  for (const it of cd.items) {
    const row = rows.get(it.serviceRequestId);
    if (!row) {
      if (rejected.get(it.serviceRequestId) !== it.state && !fetching.has(it.serviceRequestId)) missing.push(it);
      continue;
    }
    row.node.sla.remainingSeconds = it.remainingSeconds;
    setCountdown(row.tr.querySelector('.countdown'), it.remainingSeconds, false);
    setState(row, it.state);
    if (row.node.sla.dueAt !== it.dueAt) { row.node.sla.dueAt = it.dueAt; moved = true; }
  }
  if (moved) sortRows();
  if (missing.length) fetchMissing(missing);
  markReady();
}

/** Requests the countdown follows but the table lacks (filed since, or now matching). */
async function fetchMissing(items) {
  const gen = listGen;
  const ids = items.map((it) => it.serviceRequestId);
  ids.forEach((id) => fetching.add(id));
  try {
    const data = await gql(`query Missing($ids: [ID!]!) { nodes(ids: $ids) { ... on ServiceRequest { ${ROW_FIELDS} } } }`, { ids });
    if (gen !== listGen) return;
    data.nodes.forEach((node, i) => {
      if (node && node.id && passesClientFilters(node)) { if (!rows.has(node.id)) addRow(node); }
      else rejected.set(ids[i], items[i].state);
    });
  } catch (_) { /* the next tick retries */ } finally {
    ids.forEach((id) => fetching.delete(id));
  }
}

function onAlert(payload) {
  const a = payload.data && payload.data.slaAlerts;
  if (!a) return;
  const n = a.serviceRequest;
  const row = rows.get(n.id);
  if (row) setState(row, a.state);
  if (filters.agent && (!n.createdBy || n.createdBy.id !== filters.agent)) return;
  if (a.state !== 'AT_RISK' && a.state !== 'BREACHED') return;
  const list = $('#alerts');
  $('#alerts-empty').hidden = true;
  const verb = a.state === 'BREACHED' ? 'breached its SLA' : 'is at risk of breaching';
  list.prepend(el('li', { dataset: { state: a.state, requestId: n.id } },
    el('time', { datetime: a.at }, formatTime(a.at)), ' ',
    stateBadge(a.state), ' ',
    el('a', { href: '?request=' + encodeURIComponent(n.id) }, n.title), ` ${verb}`,
    n.customer ? ` · ${n.customer.companyName}` : '', ` · severity ${n.severity}`));
  while (list.children.length > 50) list.lastElementChild.remove();
}

function onEvent(payload) {
  const ev = payload.data && payload.data.serviceRequestEvents;
  const n = ev && ev.serviceRequest;
  if (!n || !n.sla) return;
  const row = rows.get(n.id);
  const matches = passesClientFilters(n) && (!filters.state || n.sla.state === filters.state);
  if (row && !OPEN.includes(n.status)) {
    row.tr.remove();
    rows.delete(n.id);
    updateCount();
  } else if (row) {
    row.node = n;
    renderRow(row);
    sortRows();
  } else if (matches) {
    rejected.delete(n.id);
    addRow(n);
  }
}

// ---------------------------------------------------------------- wiring

function start() {
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (t) { $('#token-input').value = ''; signIn(t); }
  });
  $('#demo-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('#demo-agent').value;
    if (t) signIn(t);
  });
  $('#signout').addEventListener('click', signOut);
  const form = $('#filters');
  form.addEventListener('change', onFiltersChanged);
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('reset', () => setTimeout(onFiltersChanged)); // after the reset applied

  // Rows and alert links open the request view in place (links still work as links).
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    const a = e.target.closest('a[href^="?request="]');
    const tr = e.target.closest('tr[data-request-id]');
    if (!a && !tr) return;
    e.preventDefault();
    openRequest(a ? new URLSearchParams(a.getAttribute('href')).get('request') : tr.dataset.requestId, true);
  });
  $('#requests tbody').addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr[data-request-id]');
    if (e.key === 'Enter' && tr && e.target === tr) { e.preventDefault(); openRequest(tr.dataset.requestId, true); }
  });
  window.addEventListener('popstate', () => {
    if (!started) return;
    const id = new URLSearchParams(location.search).get('request');
    if (id) openRequest(id, false); else closeRequest(false);
  });

  // `#token=…` signs in once; the token then leaves the URL (and the history entry).
  const m = location.hash.match(/^#token=(.+)$/);
  if (m) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) signIn(token); else showSignin('');
}

start();
