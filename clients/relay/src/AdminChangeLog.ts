// The admin audit log: exercises the JSON scalar (AdminChange.detail), typed
// as JsonValue from ../../scalars through relay.config.json customScalarTypes.
import { graphql } from 'react-relay';

export const adminChangeLogQuery = graphql`
  query AdminChangeLogQuery($subject: AdminSubject) {
    adminChanges(first: 50, subject: $subject) {
      totalCount
      edges {
        node {
          id
          subject
          subjectId
          action
          agentId
          detail
          at
        }
      }
    }
  }
`;
