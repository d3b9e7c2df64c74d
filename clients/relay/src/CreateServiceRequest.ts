// Files a request and puts it at the top of the (newest-first) request queue
// connections given in $connections, with no updater function.
import { graphql } from 'react-relay';

export const createServiceRequestMutation = graphql`
  mutation CreateServiceRequestMutation(
    $input: CreateServiceRequestInput!
    $connections: [ID!]!
  ) {
    createServiceRequest(input: $input) {
      replayed
      serviceRequestEdge @prependEdge(connections: $connections) {
        cursor
        node {
          id
          title
          severity
          status
          supportPlan
          feeCoverage
          sla {
            state
            dueAt
            remainingSeconds
          }
        }
      }
    }
  }
`;
