// The SLA report: headline figures, met vs breached per period (uPlot), and breaches by
// customer, severity, product family and language as small tables with inline bars.
import { gql, AuthError } from '/board/gql.js';
import { el, $, pct, formatMinutes, errorList, FAMILY_TEXT } from '/board/util.js';
import { metBreachedChart, destroyChart, COLORS } from '/board/charts.js';

const REPORT = `query Report($from: DateTime!, $to: DateTime!, $period: ReportPeriod!) {
  slaReport(from: $from, to: $to, period: $period) {
    overall { requests met breached running responded metRate breachRate medianFirstResponseMinutes p90FirstResponseMinutes }
    byPeriod { key label figures { requests met breached metRate } }
    byCustomer { key label figures { requests met breached breachRate medianFirstResponseMinutes } }
    bySeverity { key label figures { requests met breached breachRate } }
    byProductFamily { key label figures { requests met breached breachRate } }
    byLanguage { key label figures { requests met breached breachRate } } } }`;

let wired = false;
let seq = 0;

const isoDate = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function initReports() {
  const form = $('#report-form');
  if (!wired) {
    wired = true;
    const to = new Date();
    const from = new Date(to.getTime() - 30 * 86400000); // default: the last 30 days
    form.elements.from.value = isoDate(from);
    form.elements.to.value = isoDate(to);
    form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
    form.addEventListener('change', () => load());
  }
  load();
}

async function load() {
  const form = $('#report-form');
  const out = $('#report-body');
  const fromDay = form.elements.from.value;
  const toDay = form.elements.to.value;
  if (!fromDay || !toDay || fromDay > toDay) {
    out.replaceChildren(el('p', { class: 'notice bad' }, 'Pick a start date on or before the end date.'));
    return;
  }
  // Local days: from the start of `from` to the end of `to` (the next midnight).
  const from = new Date(fromDay + 'T00:00:00');
  const to = new Date(toDay + 'T00:00:00');
  to.setDate(to.getDate() + 1);
  const mine = ++seq;
  out.setAttribute('aria-busy', 'true');
  let data;
  try {
    data = await gql(REPORT, { from: from.toISOString(), to: to.toISOString(), period: form.elements.period.value });
  } catch (e) {
    if (mine !== seq || e instanceof AuthError) return;
    out.removeAttribute('aria-busy');
    destroyChart();
    const unknown = e.errors && e.errors.some((x) => /Unknown field "?slaReport/i.test(x.message) || /Unknown type "?ReportPeriod/i.test(x.message));
    out.replaceChildren(unknown
      ? el('p', { class: 'notice', dataset: { unavailable: '1' } }, 'Reports are not available on this gateway yet (it has no slaReport query).')
      : errorList(e));
    return;
  }
  if (mine !== seq) return;
  out.removeAttribute('aria-busy');
  render(out, data.slaReport);
}

function figure(label, value, note) {
  return el('div', { class: 'figure' }, el('span', { class: 'label' }, label), el('strong', {}, value), note ? el('span', { class: 'hint' }, note) : null);
}

function render(out, r) {
  const o = r.overall;
  const chartBox = el('div', { class: 'chart', role: 'img', 'aria-label': 'Bar chart of met and breached requests per period; the figures are in the table below it.' });
  out.replaceChildren(
    el('div', { class: 'figures' },
      figure('Met rate', pct(o.metRate), `${o.met} of ${o.requests} requests`),
      figure('Breach rate', pct(o.breachRate), `${o.breached} breached · ${o.running} still running`),
      figure('Median first response', formatMinutes(o.medianFirstResponseMinutes), `${o.responded} responded`),
      figure('90th percentile first response', formatMinutes(o.p90FirstResponseMinutes))),
    r.byPeriod.length ? chartBox : el('p', { class: 'hint' }, 'No request in this range.'),
    r.byPeriod.length ? el('details', {}, el('summary', {}, 'Figures per period'),
      table(['Period', 'Requests', 'Met', 'Breached', 'Met rate'],
        r.byPeriod.map((p) => [p.label, p.figures.requests, p.figures.met, p.figures.breached, pct(p.figures.metRate)]))) : null,
    el('div', { class: 'breakdowns' },
      breakdown('Breaches by customer', r.byCustomer, true),
      breakdown('Breaches by severity', r.bySeverity),
      breakdown('Breaches by product family', r.byProductFamily),
      breakdown('Breaches by language', r.byLanguage)),
  );
  if (r.byPeriod.length) metBreachedChart(chartBox, r.byPeriod);
}

function table(head, body) {
  return el('table', { class: 'small' },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, body.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))));
}

/** A breakdown table whose breach-rate cell carries a proportional bar (text beside it). */
function breakdown(title, groups, withMedian = false) {
  const sorted = [...groups].sort((a, b) => b.figures.breached - a.figures.breached);
  const bar = (rate) => el('span', { class: 'rate' }, el('span', { class: 'track' },
    el('span', { class: 'bar', style: `width:${Math.round((rate || 0) * 100)}%;background:${COLORS.breached}` })), pct(rate));
  const head = ['', 'Requests', 'Breached', 'Breach rate'].concat(withMedian ? ['Median response'] : []);
  head[0] = title.replace('Breaches by ', '').replace(/^./, (c) => c.toUpperCase());
  return el('section', { class: 'breakdown' }, el('h3', {}, title),
    groups.length ? table(head, sorted.map((g) => [FAMILY_TEXT[g.label] || g.label, g.figures.requests, g.figures.breached, bar(g.figures.breachRate)]
      .concat(withMedian ? [formatMinutes(g.figures.medianFirstResponseMinutes)] : [])))
      : el('p', { class: 'hint' }, 'Nothing to show.'));
}
