// GraphQL Code Generator (client preset) over the gateway's documented
// operations, typed against ../schema.graphql. Run through check.sh or
// `npx graphql-codegen --config codegen.ts`; output goes to gql/ (gitignored).
//
// The operations are ../docs/operations/*.graphql; CLIENTS_OPERATIONS_GLOB
// points elsewhere (comma-separated globs, relative to this folder).
import type { CodegenConfig } from '@graphql-codegen/cli';

const documents = (process.env.CLIENTS_OPERATIONS_GLOB || '../docs/operations/*.graphql')
  .split(',')
  .map((glob) => glob.trim())
  .filter(Boolean);

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents,
  // No document found is an error, not an empty output.
  ignoreNoDocuments: false,
  // A matched file that does not parse is an error, not silently dropped.
  noSilentErrors: true,
  // One failing output writes nothing.
  allowPartialOutputs: false,
  // Documents are validated against the schema (the default, stated here):
  // unknown fields, arguments and types fail the run.
  skipDocumentsValidation: false,
  generates: {
    './gql/': {
      preset: 'client',
      config: {
        // A scalar without a mapping is an error, never `any`/`unknown`.
        strictScalars: true,
        scalars: {
          DateTime: 'string',
          Date: 'string',
          // Any JSON value (e.g. AdminChange.detail), from ../scalars.ts.
          JSON: '../scalars#JsonValue',
        },
        useTypeImports: true,
      },
    },
    // Fails on an anonymous operation (which the client preset skips with only
    // a warning); writes an index of the operations.
    './gql/operations.json': {
      plugins: ['./codegen-operation-index.cjs'],
    },
  },
};

export default config;
