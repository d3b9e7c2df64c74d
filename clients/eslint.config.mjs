// @graphql-eslint over the committed schema and the client operations.
// Run from the repository root with this file as --config (check.sh does):
//   clients/node_modules/.bin/eslint --config clients/eslint.config.mjs \
//     schema.graphql clients/relay/src docs/operations
// ESLint ignores files outside the folder of a config file it finds itself;
// with --config the base path is the working directory.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import graphqlPlugin from '@graphql-eslint/eslint-plugin';
import { parse, print } from 'graphql';

const clients = path.dirname(fileURLToPath(import.meta.url));
// Paths relative to clients/, made relative to the working directory: ESLint
// `files` patterns and graphql-config pointers are matched against paths
// relative to it (graphql-config never matches an absolute pointer).
const rel = (p) => path.relative(process.cwd(), path.resolve(clients, p)) || '.';

// Same default and override as codegen.ts: globs relative to clients/.
const operationGlobs = (process.env.CLIENTS_OPERATIONS_GLOB || '../docs/operations/*.graphql')
  .split(',')
  .map((glob) => glob.trim())
  .filter(Boolean);

const schema = rel('../schema.graphql');

// The Relay operations use relay-compiler's directives (@connection,
// @refetchable, @prependEdge, @alias, …): take their definitions from the
// installed relay-compiler, less the two internal ones graphql-js refuses
// (`@__clientField`, `@__debug`: names starting with `__` are reserved), plus
// @argumentDefinitions/@arguments, which relay-compiler defines in code.
const relayExtensions = parse(
  readFileSync(path.resolve(clients, 'node_modules/relay-compiler/relay-extensions.graphql'), 'utf8'),
);
const relayDirectives = `${print({
  ...relayExtensions,
  definitions: relayExtensions.definitions.filter((d) => !d.name?.value.startsWith('__')),
})}
directive @argumentDefinitions on FRAGMENT_DEFINITION
directive @arguments on FRAGMENT_SPREAD
`;

// One graphql-config for every file (@graphql-eslint keeps the first one it
// loads); the linted file picks the project, first match wins.
const graphQLConfig = {
  projects: {
    schema: { schema },
    operations: { schema, documents: operationGlobs.map(rel) },
    relay: { schema: [schema, relayDirectives], documents: rel('relay/src/**/*.ts') },
  },
};

const graphql = {
  languageOptions: { parser: graphqlPlugin.parser, parserOptions: { graphQLConfig } },
  plugins: { '@graphql-eslint': graphqlPlugin },
};
const { rules: schemaRecommended } = graphqlPlugin.configs['flat/schema-recommended'];
const { rules: schemaRelay } = graphqlPlugin.configs['flat/schema-relay'];
const { rules: operationsRecommended } = graphqlPlugin.configs['flat/operations-recommended'];

export default [
  {
    files: [schema],
    ...graphql,
    rules: {
      ...schemaRecommended,
      ...schemaRelay,
      // Stricter than schema-recommended (types only): every field, argument,
      // input field and enum value is described too (tests/clients.rs checks
      // the same on the live schema).
      '@graphql-eslint/require-description': [
        'error',
        {
          types: true,
          rootField: true,
          FieldDefinition: true,
          InputValueDefinition: true,
          EnumValueDefinition: true,
          DirectiveDefinition: true,
          // The spec's own directives (@include, @skip, @specifiedBy), which
          // async-graphql prints with their descriptions but not their
          // argument's: their `if` and `url` are the spec's to describe.
          ignoredSelectors: [
            'DirectiveDefinition[name.value=/^(include|skip|specifiedBy|deprecated|oneOf)$/] > InputValueDefinition',
          ],
        },
      ],
      // "Every object type has `id: ID!`", except what is not an entity a
      // client cache should normalize:
      // - Relay's own shapes: connections, edges, PageInfo, mutation payloads;
      // - value objects that are part of their parent and have no identity of
      //   their own (a request's `sla` and `route`, a calendar's working hours
      //   and holidays, a product's ISV contacts, a filing's contact, report
      //   figures and rows, a policy refusal, eligibility answers, delivery
      //   counts, the partner's support agreements): Apollo merges them into
      //   their parent with `typePolicies: { Sla: { merge: true }, … }` (README,
      //   "Clients");
      // - pushed messages that are never refetched (subscription payloads:
      //   `ServiceRequestEvent` carries its `eventId`, `SlaAlert`,
      //   `SlaCountdown` and its lines, which carry the request itself);
      // - per-caller views: `Viewer` (who is asking) and `SyncStatus` (one
      //   line per source and resource, keyed by both).
      '@graphql-eslint/strict-id-in-types': [
        'error',
        {
          exceptions: {
            types: [
              'PageInfo',
              'Sla', 'Route', 'SlaClockPeriod', 'WorkingHours', 'Holiday', 'IsvSupportContacts', 'Contact',
              'SlaFigures', 'SlaReport', 'SlaReportRow', 'PolicyRefusal', 'SupportEligibility',
              'WebhookDeliveryCounts', 'SupportAgreements',
              'ServiceRequestEvent', 'SlaAlert', 'SlaCountdown', 'SlaCountdownItem',
              'Viewer', 'SyncStatus',
            ],
            suffixes: ['Connection', 'Edge', 'Payload'],
          },
        },
      ],
      // listTypeCanWrapOnlyEdgeType off: it reports every list field of the
      // schema (`domains: [String!]!`, a calendar's `holidays`, report rows,
      // Relay's own `nodes(ids:)`, each connection's GitHub-style `nodes`
      // shortcut). The schema deliberately keeps bounded lists plain and makes
      // the unbounded collections connections; the rule's docs mark the check
      // optional. The other edge checks (Node, `cursor`, `Edge` suffix) stay.
      '@graphql-eslint/relay-edge-types': ['error', { listTypeCanWrapOnlyEdgeType: false }],
    },
  },
  {
    files: operationGlobs.map(rel),
    ...graphql,
    rules: {
      ...operationsRecommended,
    },
  },
  // The graphql`…` templates of the Relay sources, each linted as a virtual
  // file `<source>.ts/<n>_document.graphql`. relay-compiler --validate checks
  // these documents fully; the changes below are where Relay's rules differ
  // from plain GraphQL.
  {
    files: [rel('relay/src/**/*.ts')],
    processor: graphqlPlugin.processor,
  },
  {
    files: [rel('relay/src/**/*.ts/*.graphql')],
    ...graphql,
    rules: {
      ...operationsRecommended,
      // Relay requires its own names: an operation is `<Module>Query`,
      // `<Module>Mutation` or `<Module>Subscription` and a fragment
      // `<Module>_<propName>` (relay-compiler refuses anything else), which the
      // recommended "no Query/Mutation suffix, PascalCase fragments" forbids.
      '@graphql-eslint/naming-convention': [
        'error',
        {
          VariableDefinition: 'camelCase',
          OperationDefinition: {
            style: 'PascalCase',
            forbiddenPrefixes: ['Query', 'Mutation', 'Subscription', 'Get'],
          },
          FragmentDefinition: { forbiddenPrefixes: ['Fragment'], forbiddenSuffixes: ['Fragment'] },
        },
      ],
      // Relay fragment arguments: `@argumentDefinitions(count: {type: "Int"})`
      // and `@arguments(count: $count)` take any argument names, which
      // graphql-js reports as unknown arguments of the directive.
      // relay-compiler checks fragment arguments and field arguments itself.
      '@graphql-eslint/known-argument-names': 'off',
      // Relay fragment variables are local to the fragment (declared by its
      // @argumentDefinitions), so graphql-js reports them as undefined in the
      // operation that spreads the fragment. relay-compiler checks variables
      // with Relay's scoping.
      '@graphql-eslint/no-undefined-variables': 'off',
    },
  },
];
