// The request queue: Query.serviceRequests (filter + orderBy) as a Relay
// connection for usePaginationFragment, newest first by default.
import { graphql } from 'react-relay';

export const serviceRequestListQuery = graphql`
  query ServiceRequestListQuery(
    $count: Int
    $filter: ServiceRequestFilter
    $orderBy: ServiceRequestOrder
  ) {
    ...ServiceRequestList_query
      @arguments(count: $count, filter: $filter, orderBy: $orderBy)
  }
`;

export const serviceRequestListFragment = graphql`
  fragment ServiceRequestList_query on Query
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
    filter: { type: "ServiceRequestFilter" }
    orderBy: { type: "ServiceRequestOrder" }
  )
  @refetchable(queryName: "ServiceRequestListPaginationQuery") {
    serviceRequests(first: $count, after: $cursor, filter: $filter, orderBy: $orderBy)
      @connection(key: "ServiceRequestList_serviceRequests") {
      # eslint-disable-next-line @graphql-eslint/fields-on-correct-type -- Relay's client-side connection id, not a schema field
      __id
      totalCount
      edges {
        node {
          id
          title
          severity
          status
          customer {
            id
            companyName
          }
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
