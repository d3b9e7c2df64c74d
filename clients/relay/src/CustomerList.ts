// Customer search list: Query.customers as a Relay connection, paginated with
// usePaginationFragment(CustomerList_query) and refetched (new search) through
// the generated CustomerListPaginationQuery.
import { graphql } from 'react-relay';

export const customerListQuery = graphql`
  query CustomerListQuery($count: Int, $search: String, $filter: CustomerFilter) {
    ...CustomerList_query @arguments(count: $count, search: $search, filter: $filter)
  }
`;

export const customerListFragment = graphql`
  fragment CustomerList_query on Query
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
    search: { type: "String" }
    filter: { type: "CustomerFilter" }
  )
  @refetchable(queryName: "CustomerListPaginationQuery") {
    customers(first: $count, after: $cursor, search: $search, filter: $filter)
      @connection(key: "CustomerList_customers") {
      totalCount
      edges {
        node {
          id
          companyName
          primaryDomain
          cloud
          relationship
          delegatedAdminPrivileges
          createdAt
        }
      }
    }
  }
`;
