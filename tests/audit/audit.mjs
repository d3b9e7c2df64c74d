// Runs every server audit of graphql-http (the GraphQL-over-HTTP specification's conformance
// checks) against the GraphQL endpoint given as the first argument, e.g.
//
//   node tests/audit/audit.mjs http://127.0.0.1:8080/graphql
//
// Prints one line per audit (`ok` or `FAIL`, its id, name and, on failure, the reason and the
// answer's status, content type and body), then `audit: N passed, M failed`. Exits 1 when any
// audit does not pass (a failed MUST, SHOULD or MAY alike), 2 on bad usage.
// Run by tests/audit.rs (`cargo test --test audit -- --nocapture`).
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url of the GraphQL endpoint, e.g. http://127.0.0.1:8080/graphql>');
  process.exit(2);
}

/** The answer a failed audit saw: status, content type and (when still readable) body. */
async function describe(response) {
  if (!response) return '';
  let body = '';
  try {
    body = await response.text();
  } catch {
    body = '<body already read>';
  }
  if (body.length > 300) body = `${body.slice(0, 300)}…`;
  const type = response.headers.get('content-type') ?? '<none>';
  return ` [answered ${response.status}, content-type ${type}: ${body}]`;
}

let passed = 0;
let failed = 0;
for (const { id, name, fn } of serverAudits({ url })) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    // graphql-http throws (rather than returning a failure) on a fatal problem, e.g. no connection.
    result = { status: 'fatal', reason: `threw: ${err?.stack ?? err}` };
  }
  if (result.status === 'ok') {
    passed += 1;
    console.log(`ok   ${id} ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${id} ${name} (${result.status}): ${result.reason}${await describe(result.response)}`);
  }
}
console.log(`audit: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
