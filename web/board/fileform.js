// Filing a request: the form asks supportEligibility as it changes (debounced) and shows
// every rule that would refuse it before anything is sent; createServiceRequest files it
// with an idempotency key, so a retried submit never files twice.
import { gql, AuthError } from '/board/gql.js';
import { el, $, debounce, uuid, errorList, humanize, formatTime, formatMinutes } from '/board/util.js';

let boot = null;
let form = null;
let seq = 0;          // eligibility answers older than the latest ask are dropped
let idemKey = uuid(); // one key per version of the form: a resubmit of the same form reuses it
let subscriptions = [];
let wired = false;

export function initFileForm(bootData) {
  boot = bootData;
  form = $('#file-form');
  const customer = form.elements.customerId;
  customer.length = 1;
  for (const c of boot.customers.nodes) customer.append(el('option', { value: c.id }, c.companyName));
  if (!wired) {
    wired = true;
    const check = debounce(checkEligibility, 300);
    form.addEventListener('input', () => { idemKey = uuid(); check(); });
    form.addEventListener('change', (e) => {
      idemKey = uuid();
      if (e.target.name === 'customerId') loadCustomer();
      if (e.target.name === 'productFamily') { loadTopics(); fillSubscriptions(); }
      check();
    });
    form.addEventListener('submit', submit);
  }
  loadCustomer();
  loadTopics();
}

/** The customer's subscriptions and marketplace products (or the partner's own). */
async function loadCustomer() {
  const id = form.elements.customerId.value;
  let products = [];
  try {
    if (id) {
      const d = await gql(`query FormCustomer($id: ID!) { node(id: $id) { ... on Customer {
        subscriptions(first: 100) { nodes { id offerName productFamily status azureSubscriptionId } }
        marketplaceProducts(first: 100) { nodes { id name publisher } } } } }`, { id });
      subscriptions = d.node ? d.node.subscriptions.nodes : [];
      products = d.node ? d.node.marketplaceProducts.nodes : [];
    } else {
      const d = await gql('query Catalogue { marketplaceProducts(first: 100) { nodes { id name publisher } } }');
      subscriptions = boot.viewer.partner.ownSubscriptions.nodes;
      products = d.marketplaceProducts.nodes;
    }
  } catch (e) {
    if (e instanceof AuthError) return;
    subscriptions = [];
  }
  fillSubscriptions();
  const mp = form.elements.marketplaceProductId;
  mp.length = 1;
  for (const p of products) mp.append(el('option', { value: p.id }, `${p.name} (${p.publisher})`));
  checkEligibility();
}

/** Subscriptions of the picked product family first; others stay pickable (R8 may refuse). */
function fillSubscriptions() {
  const select = form.elements.subscriptionId;
  const keep = select.value;
  const family = form.elements.productFamily.value;
  select.length = 1;
  const sorted = [...subscriptions].sort((a, b) => (b.productFamily === family) - (a.productFamily === family));
  for (const s of sorted) {
    select.append(el('option', { value: s.id },
      `${s.offerName} · ${humanize(s.productFamily)} · ${humanize(s.status)}${s.azureSubscriptionId ? ' · ' + s.azureSubscriptionId : ''}`));
  }
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

async function loadTopics() {
  const select = form.elements.supportTopicId;
  try {
    const d = await gql('query Topics($f: ProductFamily!) { supportTopics(productFamily: $f) { id category name } }',
      { f: form.elements.productFamily.value });
    select.length = 1;
    for (const t of d.supportTopics) select.append(el('option', { value: t.id }, `${t.category} › ${t.name}`));
  } catch (_) { /* keep "None" */ }
}

/** The form as CreateServiceRequestInput (empty fields left out). */
function formInput() {
  const f = form.elements;
  const v = (name) => f[name].value.trim();
  const input = {
    productFamily: v('productFamily'), incidentKind: v('incidentKind'), businessImpact: v('businessImpact'),
    title: v('title'), description: v('description'), supportLanguage: v('supportLanguage') || 'en', channel: v('channel'),
  };
  for (const k of ['customerId', 'subscriptionId', 'marketplaceProductId', 'supportTopicId']) if (v(k)) input[k] = v(k);
  if (v('contactName') || v('contactEmail') || v('contactPhone')) {
    input.contact = { name: v('contactName'), email: v('contactEmail') };
    if (v('contactPhone')) input.contact.phone = v('contactPhone');
  }
  if (v('entitlementPlan')) {
    input.entitlement = { plan: v('entitlementPlan') };
    if (v('entitlementReference')) input.entitlement.reference = v('entitlementReference');
  }
  return input;
}

async function checkEligibility() {
  const mine = ++seq;
  const i = formInput();
  const out = $('#eligibility');
  out.setAttribute('aria-busy', 'true');
  try {
    const d = await gql(`query Eligibility($customerId: ID, $productFamily: ProductFamily!, $subscriptionId: ID,
        $marketplaceProductId: ID, $incidentKind: IncidentKind!, $businessImpact: BusinessImpact!, $supportTopicId: ID,
        $contactEmail: String, $channel: FilingChannel!, $entitlement: EntitlementInput) {
      supportEligibility(customerId: $customerId, productFamily: $productFamily, subscriptionId: $subscriptionId,
          marketplaceProductId: $marketplaceProductId, incidentKind: $incidentKind, businessImpact: $businessImpact,
          supportTopicId: $supportTopicId, contactEmail: $contactEmail, channel: $channel, entitlement: $entitlement) {
        eligible blockers { rule message help alternatives isvName isvSupport { websiteUrl email phone } }
        route { kind portalUrl } supportPlan feeCoverage entitlements
        requiresSupportTopic requiresAzureSubscription requiresEntitlement } }`, {
      customerId: i.customerId || null, productFamily: i.productFamily, subscriptionId: i.subscriptionId || null,
      marketplaceProductId: i.marketplaceProductId || null, incidentKind: i.incidentKind, businessImpact: i.businessImpact,
      supportTopicId: i.supportTopicId || null, contactEmail: (i.contact && i.contact.email) || null,
      channel: i.channel, entitlement: i.entitlement || null,
    });
    if (mine !== seq) return;
    renderEligibility(d.supportEligibility, i);
  } catch (e) {
    if (mine === seq && !(e instanceof AuthError)) out.replaceChildren(errorList(e));
  } finally {
    if (mine === seq) out.removeAttribute('aria-busy');
  }
}

function renderEligibility(el_, input) {
  const out = $('#eligibility');
  const needs = [];
  if (el_.requiresSupportTopic && !input.supportTopicId) needs.push('a support topic (R9)');
  if (el_.requiresAzureSubscription && !input.subscriptionId) needs.push('one of the customer’s Azure subscriptions (R8)');
  if (el_.requiresEntitlement && !input.entitlement) needs.push(`a support entitlement (R12)${el_.entitlements.length ? ': ' + el_.entitlements.map(humanize).join(', ') : ''}`);
  if (!input.title || !input.description) needs.push('a title and a description');
  out.dataset.eligible = el_.eligible ? '1' : '0';
  out.replaceChildren(
    el_.eligible
      ? el('p', { class: 'notice good' }, '✓ No rule blocks this request.')
      : el('p', { class: 'notice bad' }, `✗ ${el_.blockers.length} rule${el_.blockers.length === 1 ? '' : 's'} would refuse it:`),
    ...el_.blockers.map((b) => el('div', { class: 'refusal', dataset: { rule: b.rule } },
      el('strong', { class: 'rule' }, b.rule), ' ', b.message,
      el('p', { class: 'help' }, b.help),
      b.alternatives.length ? el('p', { class: 'help' }, 'Would satisfy it: ' + b.alternatives.map(humanize).join(', ')) : null,
      b.isvSupport ? el('p', { class: 'help' }, `${b.isvName || 'ISV'} support: `,
        [b.isvSupport.websiteUrl, b.isvSupport.email, b.isvSupport.phone].filter(Boolean).join(' · ')) : null)),
    needs.length ? el('p', { class: 'hint' }, 'The form still needs ' + needs.join(', ') + '.') : null,
    el('p', { class: 'hint' }, `Route: ${humanize(el_.route.kind)} (${el_.route.portalUrl}) · plan: ${el_.supportPlan ? humanize(el_.supportPlan) : 'not yet known'} · fee: ${el_.feeCoverage ? humanize(el_.feeCoverage) : 'not yet known'}`),
  );
}

async function submit(e) {
  e.preventDefault();
  const out = $('#file-result');
  const input = formInput();
  if (!input.title || !input.description) {
    out.replaceChildren(el('p', { class: 'notice bad', role: 'alert' }, 'A title and a description are required.'));
    (input.title ? form.elements.description : form.elements.title).focus();
    return;
  }
  input.idempotencyKey = idemKey;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  out.replaceChildren(el('p', { class: 'hint' }, 'Filing…'));
  try {
    const d = await gql(`mutation File($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
      replayed serviceRequest { id title severity supportPlan feeCoverage route { kind portalUrl }
        sla { clock targetMinutes dueAt state } } } }`, { input });
    const { serviceRequest: r, replayed } = d.createServiceRequest;
    idemKey = uuid();
    out.replaceChildren(el('div', { class: 'notice good', role: 'status', dataset: { requestId: r.id } },
      `${replayed ? 'Already filed' : 'Filed'}: “${r.title}”, severity ${r.severity}, ${humanize(r.supportPlan)}, fee ${humanize(r.feeCoverage)}. `,
      `First response due ${formatTime(r.sla.dueAt)} (${formatMinutes(r.sla.targetMinutes)}, ${r.sla.clock === 'BUSINESS_HOURS' ? 'business hours' : '24/7'}). `,
      el('a', { href: '?request=' + encodeURIComponent(r.id) }, 'Open it')));
    form.elements.title.value = '';
    form.elements.description.value = '';
  } catch (err) {
    if (!(err instanceof AuthError)) out.replaceChildren(el('p', { class: 'notice bad' }, 'Not filed:'), errorList(err));
  } finally {
    button.disabled = false;
  }
}
