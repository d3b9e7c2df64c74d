// A GraphQL Code Generator plugin (used by codegen.ts) that writes
// gql/operations.json, { "<operation name>": "<file>" }, and fails the run
// instead of letting a document be skipped. The client preset only warns
// "[client-preset] the following anonymous operation is skipped" and
// generates nothing for an anonymous operation; this plugin sees every loaded
// document, before the preset drops any.
'use strict';

const path = require('node:path');

module.exports = {
  plugin(_schema, documents) {
    const problems = [];
    const index = {};
    for (const file of documents) {
      const where = path.relative(process.cwd(), file.location ?? '?');
      for (const d of file.document?.definitions ?? []) {
        if (d.kind !== 'OperationDefinition') continue;
        if (!d.name) {
          const line = d.loc?.startToken?.line ?? '?';
          problems.push(`${where}:${line}: anonymous ${d.operation} (name it)`);
        } else {
          index[d.name.value] = where;
        }
      }
    }
    if (problems.length > 0) {
      throw new Error(`documents that would be skipped:\n  ${problems.join('\n  ')}`);
    }
    return `${JSON.stringify(index, null, 2)}\n`;
  },
};
