// One note, refetchable on its own (useRefetchableFragment): Note implements
// Node, so Relay refetches it with node(id:).
import { graphql } from 'react-relay';

export const noteItemFragment = graphql`
  fragment NoteItem_note on Note
  @refetchable(queryName: "NoteItemRefetchQuery") {
    id
    body
    authorKind
    author {
      id
      displayName
    }
    createdAt
  }
`;
