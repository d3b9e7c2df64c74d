// Adds a note and inserts its edge into every ServiceRequest.notes connection
// given in $connections (the `__id` of ServiceRequestNotes_serviceRequest's
// connection), with no updater function. Notes are oldest first, so the edge
// goes at the end (@appendEdge; CreateServiceRequest.ts shows @prependEdge).
import { graphql } from 'react-relay';

export const addServiceRequestNoteMutation = graphql`
  mutation AddServiceRequestNoteMutation(
    $input: AddServiceRequestNoteInput!
    $connections: [ID!]!
  ) {
    addServiceRequestNote(input: $input) {
      noteEdge @appendEdge(connections: $connections) {
        cursor
        node {
          id
          ...NoteItem_note
        }
      }
      note {
        id
      }
      serviceRequest {
        id
        version
        updatedAt
      }
    }
  }
`;
