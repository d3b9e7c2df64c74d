//! Who may do what with a service request, and the status state machine ("Who may do what"
//! in `docs/rules.md`, and the S4 decisions on who records support's response).
//!
//! Pure: the repo layer asks these functions before it writes anything.

use super::model::{AgentRole, RequestStatus};
use super::policy::Refusal;

/// The allowed status transitions: NEW → OPEN → IN_PROGRESS ⇄ WAITING_ON_PARTNER → RESOLVED
/// → CLOSED, a resolved request can be reopened, and a new or open one withdrawn (closed).
pub fn allowed_transitions(from: RequestStatus) -> &'static [RequestStatus] {
    use RequestStatus::*;
    match from {
        New => &[Open, Closed],
        Open => &[InProgress, WaitingOnPartner, Resolved, Closed],
        InProgress => &[WaitingOnPartner, Resolved],
        WaitingOnPartner => &[InProgress, Resolved],
        Resolved => &[Closed, Open],
        Closed => &[],
    }
}

/// Whether `from` may become `to`; the refusal names what is allowed.
pub fn check_transition(from: RequestStatus, to: RequestStatus) -> Result<(), String> {
    let allowed = allowed_transitions(from);
    if allowed.contains(&to) {
        return Ok(());
    }
    Err(format!(
        "a {from} request cannot become {to}; allowed: {}",
        if allowed.is_empty() {
            "none (closed is final)".to_owned()
        } else {
            allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        }
    ))
}

/// Filing and working service requests: global admins, admin agents and helpdesk agents;
/// sales agents and billing admins read.
pub fn may_work_requests(role: AgentRole) -> Result<(), Box<Refusal>> {
    if role.can_work_requests() {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} can read service requests but not change them"),
            "ask an admin agent, a helpdesk agent or a global admin of your partner",
        )))
    }
}

/// Recording support's first response by hand: admin agents and global admins only. The
/// response time is the evidence a partner shows its customers and Microsoft when a case goes
/// wrong, so only the roles accountable for the partner's support relationship may write it.
pub fn may_record_support_response(role: AgentRole) -> Result<(), Box<Refusal>> {
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot record support's response: it is the SLA's evidence"),
            "ask an admin agent or a global admin of your partner to record it",
        )))
    }
}

/// Creating, editing and assigning business calendars: admin agents and global admins, since
/// a calendar moves the due times of every open request on it.
pub fn may_manage_calendars(role: AgentRole) -> Result<(), Box<Refusal>> {
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot change business calendars"),
            "ask an admin agent or a global admin of your partner",
        )))
    }
}

/// Seeing where sync with Microsoft stands (its errors name upstream accounts and tenants):
/// admin agents and global admins.
pub fn may_see_sync_status(role: AgentRole) -> Result<(), Box<Refusal>> {
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot see sync status"),
            "ask an admin agent or a global admin of your partner",
        )))
    }
}

/// Granting or revoking a reseller's access to a customer's Azure account (R4): the admin
/// agents and global admins of the customer's reseller's indirect provider (`is_provider`).
pub fn may_grant_azure_access(role: AgentRole, is_provider: bool) -> Result<(), Box<Refusal>> {
    if !is_provider {
        return Err(Box::new(Refusal::access(
            "only the indirect provider of the customer's reseller grants or revokes Azure access",
            "ask the customer's indirect provider",
        )));
    }
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot grant or revoke Azure access"),
            "ask an admin agent or a global admin of your partner",
        )))
    }
}

/// The business calendar a request's SLA runs on (S5): its customer's, or, for the partner's
/// own tenant, the one the partner assigned to it (`None`: none assigned yet).
pub fn calendar_of_request<'a>(
    customer_calendar: Option<&'a str>,
    partner_calendar: Option<&'a str>,
) -> Option<&'a str> {
    match customer_calendar {
        Some(calendar) => Some(calendar),
        None => partner_calendar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_is_final_and_resolved_can_reopen() {
        assert!(check_transition(RequestStatus::Closed, RequestStatus::Open).unwrap_err().contains("closed is final"));
        assert!(check_transition(RequestStatus::Resolved, RequestStatus::Open).is_ok());
        assert!(check_transition(RequestStatus::New, RequestStatus::Resolved).unwrap_err().contains("OPEN, CLOSED"));
    }

    #[test]
    fn only_admins_record_support_responses() {
        for role in AgentRole::ALL {
            let allowed = matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin);
            assert_eq!(may_record_support_response(*role).is_ok(), allowed, "{role}");
        }
        assert!(may_work_requests(AgentRole::HelpdeskAgent).is_ok());
        assert!(may_work_requests(AgentRole::SalesAgent).is_err());
    }
}
