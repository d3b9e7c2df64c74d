// GraphQL transport for the board: queries and mutations over HTTP POST, subscriptions over
// one WebSocket speaking graphql-transport-ws (connection_init → connection_ack, then
// subscribe/next/error/complete, ping/pong), reconnecting with backoff and resubscribing.

/** Thrown (and reported through onAuthError) when the token is missing, bad or expired. */
export class AuthError extends Error {}

/** A GraphQL response with errors: `errors` keeps every error with its extensions. */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join('; '));
    this.errors = errors;
  }
}

let token = '';
let onAuthError = () => {};

export function setToken(value) { token = value || ''; }
export function setAuthErrorHandler(fn) { onAuthError = fn; }

const isAuthCode = (e) => e && e.extensions && e.extensions.code === 'UNAUTHENTICATED';

/** Runs a query or mutation; resolves to `data`, rejects with GraphQLError or AuthError. */
export async function gql(query, variables = {}) {
  if (!token) { onAuthError('Not signed in'); throw new AuthError('Not signed in'); }
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }),
  });
  let body = null;
  try { body = await res.json(); } catch (_) { /* not JSON: handled below */ }
  if (res.status === 401 || (body && body.errors && body.errors.some(isAuthCode))) {
    const msg = (body && body.errors && body.errors[0].message) || 'The token was refused';
    onAuthError(msg);
    throw new AuthError(msg);
  }
  if (!body) throw new GraphQLError([{ message: `HTTP ${res.status}`, extensions: { code: 'HTTP_' + res.status } }]);
  if (body.errors && body.errors.length) {
    const err = new GraphQLError(body.errors);
    err.data = body.data;
    throw err;
  }
  return body.data;
}

/**
 * One shared WebSocket for every subscription of the page. `subscribe` returns a function
 * that ends the subscription (sending `complete` when the server knows of it). While the
 * socket is down, subscriptions wait and are sent again after the next connection_ack.
 */
export class WsClient {
  constructor({ onStatus = () => {} } = {}) {
    this.onStatus = onStatus;
    this.subs = new Map(); // id → { payload, sink, sent }
    this.nextId = 1;
    this.ws = null;
    this.acked = false;
    this.retries = 0;
    this.timer = null;
    this.stopped = true;
  }

  /** Opens the socket (idempotent); called by subscribe and after a new token. */
  start() {
    this.stopped = false;
    if (this.ws || this.timer) return;
    this.connect();
  }

  /** Closes the socket and forgets every subscription (sign-out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.subs.clear();
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(1000, 'bye'); }
    this.acked = false;
    this.onStatus('offline');
  }

  connect() {
    this.timer = null;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.acked = false;
    this.onStatus('connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer ' + token } }));
    ws.onmessage = (ev) => this.receive(ws, ev.data);
    ws.onclose = (ev) => this.closed(ws, ev);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  receive(ws, raw) {
    if (ws !== this.ws) return;
    let msg;
    try { msg = JSON.parse(raw); } catch (_) { return; }
    switch (msg.type) {
      case 'connection_ack':
        this.acked = true;
        this.retries = 0;
        this.onStatus('live');
        for (const [id, sub] of this.subs) this.sendSubscribe(id, sub);
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'next': {
        const sub = this.subs.get(msg.id);
        if (!sub) return;
        const errs = msg.payload && msg.payload.errors;
        if (errs && errs.some(isAuthCode)) { this.authFailed(errs[0].message); return; }
        sub.sink.next(msg.payload);
        break;
      }
      case 'error': {
        const sub = this.subs.get(msg.id);
        if (!sub) return;
        this.subs.delete(msg.id);
        const errs = Array.isArray(msg.payload) ? msg.payload : [{ message: 'subscription error' }];
        if (errs.some(isAuthCode)) { this.authFailed(errs[0].message); return; }
        sub.sink.error && sub.sink.error(new GraphQLError(errs));
        break;
      }
      case 'complete': {
        const sub = this.subs.get(msg.id);
        this.subs.delete(msg.id);
        if (sub && sub.sink.complete) sub.sink.complete();
        break;
      }
      default:
        break;
    }
  }

  sendSubscribe(id, sub) {
    sub.sent = true;
    this.send({ id, type: 'subscribe', payload: sub.payload });
    if (sub.sink.subscribed) sub.sink.subscribed();
  }

  closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.acked = false;
    for (const sub of this.subs.values()) sub.sent = false;
    // 4401: subscribed before the ack (should not happen); 4403: bad or expired token.
    if (ev.code === 4403 || ev.code === 4401) { this.authFailed(ev.reason || 'The token was refused'); return; }
    if (this.stopped) return;
    // Exponential backoff with jitter: 0.5 s, 1 s, 2 s … up to 30 s.
    const delay = Math.min(30000, 500 * 2 ** this.retries) * (0.75 + Math.random() * 0.5);
    this.retries += 1;
    this.onStatus('reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  authFailed(message) {
    this.stop();
    onAuthError(message);
  }

  /**
   * Subscribes; sink = { next(payload), error?(err), complete?(), subscribed?() }.
   * `subscribed` is called each time the subscribe message goes out (after every ack).
   */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const sub = { payload: { query, variables }, sink, sent: false };
    this.subs.set(id, sub);
    this.start();
    if (this.acked) this.sendSubscribe(id, sub);
    return () => {
      const known = this.subs.get(id);
      this.subs.delete(id);
      if (known && known.sent) this.send({ id, type: 'complete' });
    };
  }
}

/** The page's one socket, shared by every view. */
export const ws = new WsClient();
