//! Opaque global ids (Relay): `base64url("Type:raw-id")`. Clients must treat them as opaque;
//! the type prefix lets `node(id:)` dispatch and lets a field refuse an id of the wrong type.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The types that implement `Node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Customer,
    Subscription,
    ServiceRequest,
    MarketplaceProduct,
    SupportTopic,
    Agent,
    Partner,
    BusinessCalendar,
    Note,
    HistoryEntry,
    AdminChange,
}

impl NodeKind {
    const ALL: [NodeKind; 11] = [
        NodeKind::Customer,
        NodeKind::Subscription,
        NodeKind::ServiceRequest,
        NodeKind::MarketplaceProduct,
        NodeKind::SupportTopic,
        NodeKind::Agent,
        NodeKind::Partner,
        NodeKind::BusinessCalendar,
        NodeKind::Note,
        NodeKind::HistoryEntry,
        NodeKind::AdminChange,
    ];

    pub fn type_name(self) -> &'static str {
        match self {
            NodeKind::Customer => "Customer",
            NodeKind::Subscription => "Subscription",
            NodeKind::ServiceRequest => "ServiceRequest",
            NodeKind::MarketplaceProduct => "MarketplaceProduct",
            NodeKind::SupportTopic => "SupportTopic",
            NodeKind::Agent => "Agent",
            NodeKind::Partner => "Partner",
            NodeKind::BusinessCalendar => "BusinessCalendar",
            NodeKind::Note => "Note",
            NodeKind::HistoryEntry => "HistoryEntry",
            NodeKind::AdminChange => "AdminChange",
        }
    }
}

pub fn encode(kind: NodeKind, raw: &str) -> ID {
    // Spelled on the stack and encoded into a string of the right size: one allocation for
    // an id that every object of every answer carries (`format!` then `encode` made three).
    let name = kind.type_name().as_bytes();
    let len = name.len() + 1 + raw.len();
    let mut out = String::with_capacity(base64::encoded_len(len, false).unwrap_or_default());
    let mut plain = [0u8; 128];
    if let Some(plain) = plain.get_mut(..len) {
        let (head, tail) = plain.split_at_mut(name.len());
        head.copy_from_slice(name);
        tail[0] = b':';
        tail[1..].copy_from_slice(raw.as_bytes());
        URL_SAFE_NO_PAD.encode_string(plain, &mut out);
    } else {
        URL_SAFE_NO_PAD.encode_string(format!("{}:{raw}", kind.type_name()), &mut out);
    }
    ID(out)
}

/// The raw id of an item that lives inside a service request (a note, a history entry): the
/// request's id and the item's, so that fetching it by id reuses the request's batched list.
pub fn child_raw(request_id: &str, item_id: &str) -> String {
    format!("{request_id}/{item_id}")
}

/// The request id and item id of a [`child_raw`] id.
pub fn split_child(raw: &str) -> Option<(&str, &str)> {
    raw.split_once('/').filter(|(r, i)| !r.is_empty() && !i.is_empty())
}

/// The kind and raw id of a global id, or `None` when it is not one of ours.
pub fn decode(id: &str) -> Option<(NodeKind, String)> {
    if id.len() > 200 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (type_name, raw) = text.split_once(':')?;
    let kind = NodeKind::ALL.into_iter().find(|k| k.type_name() == type_name)?;
    (!raw.is_empty() && !raw.chars().any(char::is_control)).then(|| (kind, raw.to_owned()))
}

/// The raw id of a global id that must name a `kind`; anything else is the user's mistake.
pub fn decode_as(kind: NodeKind, id: &ID) -> AppResult<String> {
    match decode(id) {
        Some((k, raw)) if k == kind => Ok(raw),
        Some((k, _)) => {
            Err(AppError::bad_input(format!("expected a {} id, got a {} id", kind.type_name(), k.type_name())))
        }
        None => Err(AppError::bad_input(format!("`{}` is not a valid {} id", truncate(id, 64), kind.type_name()))),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let id = encode(NodeKind::Customer, "abc-123");
        assert_eq!(decode(&id), Some((NodeKind::Customer, "abc-123".to_owned())));
        assert_eq!(decode_as(NodeKind::Customer, &id).unwrap(), "abc-123");
        assert!(decode_as(NodeKind::ServiceRequest, &id).is_err());
        assert!(decode("not base64 !!").is_none());
        assert!(decode(&URL_SAFE_NO_PAD.encode("Unknown:1")).is_none());
        assert!(decode(&URL_SAFE_NO_PAD.encode("Customer:")).is_none());
        // Short and long raw ids (spelled on the stack, or not) encode the same way.
        for raw in ["x".to_owned(), "é-1".repeat(20), "a".repeat(200)] {
            let id = encode(NodeKind::ServiceRequest, &raw);
            assert_eq!(id.0, URL_SAFE_NO_PAD.encode(format!("ServiceRequest:{raw}")));
        }
    }
}
