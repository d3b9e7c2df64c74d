// A request's notes (oldest first): ServiceRequest.notes as a Relay connection
// paginated with usePaginationFragment; the fragment is refetchable because
// ServiceRequest implements Node. `__id` is the connection id that
// AddServiceRequestNoteMutation passes as `$connections`.
import { graphql } from 'react-relay';

export const serviceRequestNotesFragment = graphql`
  fragment ServiceRequestNotes_serviceRequest on ServiceRequest
  @argumentDefinitions(
    count: { type: "Int", defaultValue: 20 }
    cursor: { type: "String" }
  )
  @refetchable(queryName: "ServiceRequestNotesPaginationQuery") {
    id
    notes(first: $count, after: $cursor)
      @connection(key: "ServiceRequestNotes_notes") {
      # eslint-disable-next-line @graphql-eslint/fields-on-correct-type -- Relay's client-side connection id, not a schema field
      __id
      totalCount
      edges {
        node {
          id
          ...NoteItem_note
        }
      }
    }
  }
`;
