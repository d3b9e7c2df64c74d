// A request's page: loaded through Query.node, refetched on its own
// (useRefetchableFragment) through the generated ServiceRequestDetailRefetchQuery,
// which Relay builds on Query.node because ServiceRequest implements Node.
import { graphql } from 'react-relay';

export const serviceRequestDetailQuery = graphql`
  query ServiceRequestDetailQuery($id: ID!) {
    node(id: $id) {
      # Relay 21 requires @alias on a spread whose type (ServiceRequest) is
      # narrower than the field's (Node): each reference is null for other types.
      ...ServiceRequestDetail_serviceRequest @alias(as: "serviceRequest")
      ...ServiceRequestNotes_serviceRequest @alias(as: "notes")
    }
  }
`;

export const serviceRequestDetailFragment = graphql`
  fragment ServiceRequestDetail_serviceRequest on ServiceRequest
  @refetchable(queryName: "ServiceRequestDetailRefetchQuery") {
    id
    title
    description
    status
    severity
    version
    createdAt
    updatedAt
    closedAt
    customer {
      id
      companyName
    }
    route {
      kind
      portalUrl
    }
    sla {
      clock
      state
      dueAt
      atRiskAt
      remainingSeconds
    }
  }
`;
