// The request view: details, the SLA in plain words, notes (live), history, and a note form.
// It follows serviceRequestEvents for the one request and re-reads it on every event, so a
// note added anywhere shows within a second; slaCountdown(ids:) keeps its time left live.
import { gql, ws, AuthError } from '/board/gql.js';
import {
  el, $, formatRemaining, formatMinutes, formatTime, stateBadge, humanize, FAMILY_TEXT, STATE_TEXT, errorList,
} from '/board/util.js';

const REQUEST = `query Request($id: ID!) { node(id: $id) { ... on ServiceRequest {
  id title description productFamily incidentKind businessImpact severity status supportPlan feeCoverage
  route { kind portalUrl } contact { name email phone } supportLanguage onPartnerTenant
  upstreamId upstreamState upstreamError source createdAt updatedAt closedAt version
  customer { id companyName businessCalendar { name timeZone businessDayMinutes
    weeklyHours { isoWeekday start end } holidays { date name } } }
  subscription { offerName azureSubscriptionId } supportTopic { category name } createdBy { displayName email }
  sla { clock targetMinutes dueAt atRiskAt firstResponseAt firstResponseSource firstResponseEnteredAt
    firstResponseEnteredBy { displayName } stoppedAt state remainingSeconds clockPeriods { from to minutes upcoming } }
  notes(last: 100) { totalCount nodes { body authorKind author { displayName } createdAt } }
  history(last: 100) { totalCount nodes { kind fromValue toValue actor { displayName } createdAt } } } } }`;

let current = null; // { id, unsubs, loading, again }

function setUrl(id, push) {
  const params = new URLSearchParams(location.search);
  if (id) params.set('request', id); else params.delete('request');
  const qs = params.toString();
  const url = location.pathname + (qs ? '?' + qs : '');
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

/** Shows the request `id`; `push` adds a history entry (Back closes the view). */
export function openRequest(id, push) {
  if (current && current.id === id) { $('#request-view').focus(); return; }
  teardown();
  setUrl(id, push);
  const view = $('#request-view');
  view.hidden = false;
  view.replaceChildren(el('p', { class: 'hint' }, 'Loading the request…'));
  current = { id, unsubs: [], loading: false, again: false, focus: true };
  const me = current;
  me.unsubs.push(ws.subscribe(
    'subscription RequestEvents($ids: [ID!]) { serviceRequestEvents(filter: { ids: $ids }) { eventId kind at } }',
    { ids: [id] },
    // Re-read on every event; the "subscribed" hook also re-reads after a reconnect, so
    // nothing missed while the socket was down stays missing.
    { next: () => load(me), subscribed: () => load(me) },
  ));
  me.unsubs.push(ws.subscribe(
    'subscription RequestCountdown($ids: [ID!]) { slaCountdown(ids: $ids, intervalSeconds: 1) { items { serviceRequestId state remainingSeconds } } }',
    { ids: [id] },
    { next: (p) => tick(me, p) },
  ));
}

/** Hides the view; `updateUrl` false keeps ?request= (e.g. while signing in again). */
export function closeRequest(updateUrl = true) {
  teardown();
  const view = $('#request-view');
  view.hidden = true;
  view.textContent = '';
  if (updateUrl) setUrl(null, false);
}

function teardown() {
  if (current) current.unsubs.forEach((u) => u());
  current = null;
}

/** Loads (or re-loads) the request; overlapping calls collapse into one more read. */
async function load(me) {
  if (me !== current) return;
  if (me.loading) { me.again = true; return; }
  me.loading = true;
  try {
    const data = await gql(REQUEST, { id: me.id });
    if (me !== current) return;
    if (!data.node || !data.node.id) {
      $('#request-view').replaceChildren(el('p', { class: 'notice bad' }, 'This request does not exist or is not visible to you.'), closeButton());
    } else render(me, data.node);
  } catch (e) {
    if (me === current && !(e instanceof AuthError)) $('#request-view').replaceChildren(errorList(e), closeButton());
  } finally {
    me.loading = false;
    if (me.again && me === current) { me.again = false; load(me); }
  }
}

function tick(me, payload) {
  const it = payload.data && payload.data.slaCountdown && payload.data.slaCountdown.items[0];
  const out = me === current && $('#rv-remaining');
  if (!it || !out) return;
  out.dataset.remaining = it.remainingSeconds;
  out.textContent = formatRemaining(it.remainingSeconds);
  const badge = $('#request-view .sla-state');
  if (badge && badge.dataset.state !== it.state) badge.replaceWith(stateBadge(it.state));
}

function closeButton() {
  return el('button', { type: 'button', class: 'close', onclick: () => closeRequest(true) }, 'Close');
}

function dl(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function render(me, r) {
  const view = $('#request-view');
  // Keep what the agent is typing and where focus is across re-renders.
  const draft = view.querySelector('#note-body');
  const draftText = draft ? draft.value : '';
  const hadFocus = draft && document.activeElement === draft;

  const notes = el('ol', { id: 'notes', class: 'notes' }, r.notes.nodes.map((n) =>
    el('li', { dataset: { author: n.authorKind } },
      el('div', { class: 'meta' }, el('strong', {}, n.authorKind === 'SUPPORT' ? 'Microsoft support' : (n.author ? n.author.displayName : 'Partner')),
        ' · ', el('time', { datetime: n.createdAt }, formatTime(n.createdAt))),
      el('p', { class: 'body' }, n.body))));
  const history = el('ol', { class: 'history' }, r.history.nodes.map((h) =>
    el('li', {}, el('time', { datetime: h.createdAt }, formatTime(h.createdAt)), ' · ',
      el('strong', {}, humanize(h.kind)),
      h.kind !== 'NOTE_ADDED' && (h.fromValue || h.toValue) ? ` ${h.fromValue ? value(h.fromValue) + ' → ' : ''}${value(h.toValue)}` : '',
      h.actor ? ` · by ${h.actor.displayName}` : '')));

  const noteForm = el('form', { id: 'note-form', class: 'note-form' },
    el('label', { for: 'note-body' }, 'Add a note'),
    el('textarea', { id: 'note-body', rows: 3, required: true }),
    el('button', { type: 'submit' }, 'Add note'),
    el('div', { id: 'note-result', 'aria-live': 'polite' }));
  noteForm.addEventListener('submit', (e) => addNote(e, me, r));

  view.replaceChildren(
    el('div', { class: 'rv-head' }, el('h2', { id: 'rv-title' }, r.title), closeButton()),
    el('p', { class: 'rv-badges' }, stateBadge(r.sla.state), ' ', el('span', { class: 'sev', dataset: { severity: r.severity } }, 'Severity ' + r.severity),
      ' · ', humanize(r.status), r.upstreamId ? ` · Microsoft case ${r.upstreamId}` : ''),
    el('div', { class: 'cols' },
      el('div', {},
        el('h3', {}, 'The SLA, explained'), explainSla(r),
        el('h3', {}, 'Details'),
        dl([
          ['Customer', r.customer ? r.customer.companyName : 'Our own tenant'],
          ['Product', FAMILY_TEXT[r.productFamily] || r.productFamily],
          ['Subscription', r.subscription ? r.subscription.offerName + (r.subscription.azureSubscriptionId ? ` (${r.subscription.azureSubscriptionId})` : '') : null],
          ['Support topic', r.supportTopic ? `${r.supportTopic.category} › ${r.supportTopic.name}` : null],
          ['Incident kind', humanize(r.incidentKind)],
          ['Business impact', humanize(r.businessImpact)],
          ['Support plan', humanize(r.supportPlan)],
          ['Fee coverage', humanize(r.feeCoverage)],
          ['Route', el('span', {}, humanize(r.route.kind), ': ', el('code', {}, r.route.portalUrl))],
          ['Contact', [r.contact.name, r.contact.email, r.contact.phone].filter(Boolean).join(' · ')],
          ['Language', r.supportLanguage],
          ['Filed by', r.createdBy ? `${r.createdBy.displayName} (${r.createdBy.email})` : null],
          ['Filed', formatTime(r.createdAt)],
          ['Updated', formatTime(r.updatedAt) + ` (version ${r.version})`],
          ['Closed', r.closedAt ? formatTime(r.closedAt) : null],
          ['At Microsoft', r.upstreamState ? humanize(r.upstreamState) + (r.upstreamError ? `: ${r.upstreamError}` : '') : null],
          ['Source', humanize(r.source)],
        ]),
        el('h3', {}, 'Description'), el('p', { class: 'body' }, r.description)),
      el('div', {},
        el('h3', {}, `Notes (${r.notes.totalCount}), oldest first`),
        r.notes.nodes.length ? null : el('p', { class: 'hint' }, 'No notes yet.'), notes, noteForm,
        el('h3', {}, 'History'), history)),
  );
  const body = view.querySelector('#note-body');
  body.value = draftText;
  if (hadFocus) body.focus();
  if (me.focus) { me.focus = false; view.focus(); view.scrollIntoView({ block: 'start' }); }
}

/** The SLA of a request in plain words, from the `Sla` type's fields. */
function explainSla(r) {
  const s = r.sla;
  const p = [];
  const target = formatMinutes(s.targetMinutes);
  const why = r.incidentKind === 'TECHNICAL_BREAK_FIX'
    ? `a severity ${r.severity} technical break-fix request (A: 2 hours, B: 4 hours, C: 8 hours)`
    : 'not a technical break-fix request, so it gets one business day';
  if (s.clock === 'TWENTY_FOUR_SEVEN') {
    p.push(`Support must first respond within ${target}: this is ${why}. The clock runs around the clock (24/7), because the support language is English.`);
  } else {
    const cal = r.customer && r.customer.businessCalendar;
    p.push(`Support must first respond within ${target} of business hours: this is ${why}. Because the support language is “${r.supportLanguage}”, not English, the clock runs only during business hours`
      + (cal ? ` of the calendar “${cal.name}” (${cal.timeZone}): ${weekly(cal.weeklyHours)}; not on its ${cal.holidays.length} holiday${cal.holidays.length === 1 ? '' : 's'}. A business day there is ${formatMinutes(cal.businessDayMinutes)}.`
        : ' of your own tenant’s calendar.'));
  }
  p.push(`It is due ${formatTime(s.dueAt)}, and turns at risk at ${formatTime(s.atRiskAt)} (the warning window before the due time).`);
  if (s.firstResponseAt) {
    const early = (Date.parse(s.dueAt) - Date.parse(s.firstResponseAt)) / 60000;
    const how = s.firstResponseSource === 'MANUAL'
      ? `entered by hand${s.firstResponseEnteredBy ? ' by ' + s.firstResponseEnteredBy.displayName : ''}${s.firstResponseEnteredAt ? ' on ' + formatTime(s.firstResponseEnteredAt) : ''}`
      : 'read from Microsoft’s record of the ticket';
    p.push(`Support first responded ${formatTime(s.firstResponseAt)} (${how}), ${early >= 0 ? formatMinutes(early) + ' before' : formatMinutes(-early) + ' after'} the due time.`);
  } else if (s.stoppedAt) {
    p.push(`The clock stopped ${formatTime(s.stoppedAt)}, when the request was resolved or closed before support responded.`);
  }
  const states = {
    ON_TRACK: 'On track: the due time is ahead, outside the warning window.',
    AT_RISK: 'At risk: inside the warning window and still no response.',
    BREACHED: 'Breached: the due time passed without a response (or the response came late). This is final.',
    MET: 'Met: support’s first response came in time. This is final.',
    STOPPED: 'Stopped: closed or resolved before any response and before the due time, so no breach. This is final.',
  };
  const running = !s.stoppedAt;
  // When the clock ran: the working intervals it counted (and those still ahead).
  const periods = s.clockPeriods || [];
  const ran = periods.length === 0 ? null : el('details', { class: 'clock-periods' },
    el('summary', {}, `When the clock ran: ${periods.length} period${periods.length === 1 ? '' : 's'}, `
      + formatMinutes(periods.filter((x) => !x.upcoming).reduce((sum, x) => sum + x.minutes, 0)) + ' so far'),
    el('ul', {}, periods.map((x) => el('li', { dataset: { upcoming: x.upcoming ? '1' : '0' } },
      `${formatTime(x.from)} – ${formatTime(x.to)} · ${formatMinutes(x.minutes)}${x.upcoming ? ' (ahead)' : ''}`))));
  return el('div', { class: 'sla-explained' },
    el('p', {}, stateBadge(s.state), ' ', states[s.state] || STATE_TEXT[s.state]),
    el('p', {}, running ? 'Time left: ' : 'Time left when the clock stopped: ',
      el('strong', { id: 'rv-remaining', class: 'countdown', dataset: { remaining: s.remainingSeconds } }, formatRemaining(s.remainingSeconds)),
      s.clock === 'BUSINESS_HOURS' ? ' (working time)' : ''),
    p.map((t) => el('p', {}, t)), ran);
}

/** A history value: instants in local time, enum values in words. */
const value = (v) => (v == null ? '' : /^\d{4}-\d\d-\d\dT/.test(v) ? formatTime(v) : humanize(v));

const DAYS = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
function weekly(hours) {
  if (!hours.length) return 'no working hours';
  return hours.map((h) => `${DAYS[h.isoWeekday]} ${h.start}–${h.end}`).join(', ');
}

async function addNote(e, me, r) {
  e.preventDefault();
  const body = $('#note-body');
  const out = $('#note-result');
  const text = body.value.trim();
  if (!text) { out.replaceChildren(el('p', { class: 'notice bad' }, 'Write the note first.')); body.focus(); return; }
  const button = e.target.querySelector('button');
  button.disabled = true;
  try {
    await gql(`mutation AddNote($input: AddServiceRequestNoteInput!) {
      addServiceRequestNote(input: $input) { serviceRequest { id version } } }`, { input: { id: r.id, body: text } });
    body.value = '';
    out.replaceChildren(el('p', { class: 'notice good' }, 'Note added.'));
    load(me); // the event re-reads too; this covers a socket that is down
  } catch (err) {
    if (!(err instanceof AuthError)) out.replaceChildren(errorList(err));
  } finally {
    button.disabled = false;
  }
}
