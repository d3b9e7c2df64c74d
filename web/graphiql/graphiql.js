// The playground: GraphiQL with the README's example operations in tabs, the Explorer plugin,
// subscriptions over graphql-transport-ws and, on a development gateway, a picker of demo
// agents. Everything it loads comes from this gateway (see the page's Content-Security-Policy).
// Subscriptions use the board's graphql-transport-ws client (GraphiQL's UMD build cannot load
// its own); queries and mutations go over HTTP through GraphiQL's fetcher.
import { WsClient, setAuthErrorHandler, setToken } from '/board/gql.js';

const TEMPLATE = 'Bearer <paste a token, or pick a demo agent above>';
const HEADERS = JSON.stringify({ Authorization: TEMPLATE }, null, 2);
const TOKEN_KEY = 'support-gateway:token';

// The token picked in the bar (kept across reloads in this browser only).
let picked = localStorage.getItem(TOKEN_KEY) || '';

// Uses the picked token unless the Headers tab gives one of its own (the template unfilled
// does not count), for queries over HTTP and for subscriptions' connection_init alike.
function withToken(headers) {
  const own = headers && (headers.Authorization || headers.authorization);
  if (own && !String(own).includes('<')) return headers;
  const rest = Object.assign({}, headers);
  delete rest.Authorization;
  delete rest.authorization;
  return picked ? Object.assign(rest, { Authorization: 'Bearer ' + picked }) : rest;
}

async function loadExamples() {
  try {
    const response = await fetch('/graphiql/examples.json');
    return response.ok ? await response.json() : [];
  } catch (_) {
    return [];
  }
}

async function offerDemoAgents() {
  const select = document.getElementById('sg-agent');
  let agents = [];
  try {
    const response = await fetch('/dev/agents');
    if (response.ok) agents = await response.json();
  } catch (_) {
    /* not a development gateway */
  }
  if (agents.length === 0) return;
  for (const agent of agents) {
    const option = document.createElement('option');
    option.value = agent.token;
    option.textContent = `${agent.name} <${agent.email}> · ${agent.role} · ${agent.partner}`;
    option.dataset.email = agent.email;
    select.append(option);
  }
  const remembered = localStorage.getItem(TOKEN_KEY + ':email');
  const match = [...select.options].find((o) => o.dataset.email === remembered);
  if (match) {
    select.value = match.value;
    picked = match.value;
  }
  select.hidden = false;
  document.getElementById('sg-signin-help').textContent = 'or paste a token into the Headers tab below';
  select.addEventListener('change', () => {
    picked = select.value;
    localStorage.setItem(TOKEN_KEY, picked);
    localStorage.setItem(TOKEN_KEY + ':email', select.selectedOptions[0].dataset.email || '');
  });
}

// The operation GraphiQL runs, read from the text sent: right after a tab switch GraphiQL may
// still hand over the previous tab's parsed document and operation name. A name the text does
// not define is dropped when the text holds one operation. Returns the parameters to send and
// whether the operation is a subscription.
function resolveOperation(params) {
  let document;
  try {
    document = GraphiQL.GraphQL.parse(params.query);
  } catch (_) {
    return { params, subscription: false };
  }
  const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition');
  let operation = operations.find((d) => !params.operationName || (d.name && d.name.value === params.operationName));
  if (!operation && operations.length === 1) {
    operation = operations[0];
    params = Object.assign({}, params, { operationName: operation.name ? operation.name.value : undefined });
  }
  return { params, subscription: Boolean(operation && operation.operation === 'subscription') };
}

// A subscription as the observable GraphiQL reads: one socket per run, closed when it stops.
function subscribe(params, headers) {
  return {
    subscribe(observer) {
      const bearer = String(headers.Authorization || headers.authorization || '');
      setToken(bearer.replace(/^Bearer\s+/i, ''));
      setAuthErrorHandler((message) => observer.error({ errors: [{ message, extensions: { code: 'UNAUTHENTICATED' } }] }));
      const client = new WsClient();
      const stop = client.subscribe(params.query, params.variables || {}, {
        next: (payload) => observer.next(payload),
        error: (e) => observer.error(e.errors ? { errors: e.errors } : e),
        complete: () => observer.complete(),
      });
      return {
        unsubscribe() {
          stop();
          client.stop();
        },
      };
    },
  };
}

async function main() {
  const [examples] = await Promise.all([loadExamples(), offerDemoAgents()]);
  const inner = GraphiQL.createFetcher({ url: '/graphql' });
  const fetcher = (params, options) => {
    const headers = withToken(options && options.headers);
    const run = resolveOperation(params);
    if (run.subscription) return subscribe(run.params, headers);
    return inner(run.params, Object.assign({}, options, { headers }));
  };
  const tabs = examples.map((e) => ({ query: e.query, variables: e.variables || undefined, headers: HEADERS }));
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultTabs: tabs.length > 0 ? tabs : undefined,
      defaultHeaders: HEADERS,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    }),
  );
}

main();
