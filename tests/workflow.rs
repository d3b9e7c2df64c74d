//! Filing and working service requests through the real router, on SQLite and PostgreSQL:
//! every rule R1–R15 and S1–S5 by name, idempotency, optimistic concurrency, and that a
//! refused call changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateServiceRequestInput!) { createServiceRequest(input: $input) {
  replayed serviceRequest { id version status severity supportPlan feeCoverage entitlementReference
    route { kind portalUrl } contact { email } supportLanguage createdAt
    sla { clock targetMinutes dueAt atRiskAt state remainingSeconds firstResponseAt }
    history { edges { node { kind toValue actor { email } } } } } } }";

/// A customer of `agent`'s partner matching `pick`, with its subscriptions.
async fn customer(t: &TestApp, agent: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let d = t
        .data(
            agent,
            "{ customers(first: 100) { edges { node { id companyName primaryDomain domains delegatedAdminPrivileges azureAccessGranted
                 relationship language readOnly businessCalendar { timeZone }
                 subscriptions(first: 100) { edges { node { id productFamily isTrial status } } } } } } }",
            json!({}),
        )
        .await;
    d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        // R11: customers the partner only advises get no CSP support.
        .find(|c| c["relationship"] != "ADVISOR" && pick(c))
        .expect("a matching demo customer")
}

fn subscription_of(customer: &Value, family: &str) -> Option<String> {
    customer["subscriptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        // R11: a deleted subscription is supported for billing matters only.
        .find(|s| s["node"]["productFamily"] == family && s["node"]["status"] != "DELETED")
        .map(|s| s["node"]["id"].as_str().unwrap().to_owned())
}

fn has_family(family: &'static str) -> impl Fn(&Value) -> bool {
    move |c: &Value| subscription_of(c, family).is_some()
}

async fn topic(t: &TestApp, family: &str) -> String {
    let d = t.data(NORTHWIND_ADMIN, &format!("{{ supportTopics(productFamily: {family}) {{ id }} }}"), json!({})).await;
    d["supportTopics"][0]["id"].as_str().unwrap().to_owned()
}

/// A valid filing for `customer` about `family`.
async fn input(t: &TestApp, customer: &Value, family: &str) -> Value {
    let mut input = json!({
        "customerId": customer["id"],
        "productFamily": family,
        "subscriptionId": subscription_of(customer, family),
        "incidentKind": "TECHNICAL_BREAK_FIX",
        "businessImpact": "CRITICAL",
        "title": "Users cannot sign in",
        "description": "Since 09:00 all users get AADSTS50058.",
        "contact": { "name": "Partner Desk", "email": "desk@northwind-cloud.example", "phone": "+1 425 555 0100" },
        "supportLanguage": "en",
    });
    if family != "AZURE" {
        input["supportTopicId"] = json!(topic(t, family).await);
    }
    input
}

async fn create(t: &TestApp, agent: &str, input: &Value) -> (Value, Value) {
    // R7: the desk of the filing agent's own partner.
    let mut input = input.clone();
    if input["contact"]["email"] == "desk@northwind-cloud.example" {
        input["contact"]["email"] = json!(format!("desk@{}", agent.split('@').nth(1).unwrap()));
    }
    let (_, body) = t.gql_as(Some(agent), CREATE, json!({ "input": input })).await;
    (body["data"]["createServiceRequest"].clone(), body["errors"][0].clone())
}

/// Files expecting acceptance.
async fn accepted(t: &TestApp, agent: &str, input: &Value) -> Value {
    let (payload, error) = create(t, agent, input).await;
    assert!(error.is_null(), "refused: {error}");
    payload["serviceRequest"].clone()
}

/// Files expecting a refusal by `rule`; checks nothing was written.
async fn refused(t: &TestApp, agent: &str, input: &Value, rule: &str) -> Value {
    let before = write_counts(t).await;
    let (payload, error) = create(t, agent, input).await;
    assert!(payload.is_null(), "accepted, expected {rule}: {payload}");
    assert_eq!(error["extensions"]["rule"], rule, "{error}");
    let code = if rule == "ACCESS" { "FORBIDDEN" } else { "POLICY_REFUSED" };
    assert_eq!(error["extensions"]["code"], code, "{error}");
    assert_eq!(write_counts(t).await, before, "a refused call wrote something");
    error
}

on_both_backends!(
    r1_billing_disputes_and_fraud_are_filed_through_the_same_process,
    r2_route_records_portal_by_cloud,
    r3_dynamics_needs_asfp_or_higher,
    r4_reseller_azure_needs_provider_granted_access,
    r5_helpdesk_cannot_file_azure_and_is_told_the_workaround,
    r6_azure_requests_carry_the_csp_plan,
    r7_customer_contact_is_refused,
    r8_without_dap_azure_must_name_an_azure_subscription,
    r9_office_dynamics_ems_need_a_topic,
    r10_marketplace_product_refused_with_isv_contacts,
    r11_csp_benefit_covers_trials_billing_and_subscription_management,
    r12_own_tenant_needs_a_valid_entitlement,
    r13_fee_coverage_is_recorded,
    r14_phone_is_not_a_filing_channel,
    r15_severity_comes_from_business_impact,
    s1_break_fix_targets_in_english_run_around_the_clock,
    s2_other_languages_run_in_business_hours,
    s3_non_break_fix_is_one_business_day,
    s4_first_response_stops_the_clock_met_or_breached,
    s4_severity_change_recomputes_the_due_time,
    s5_calendar_follows_the_customer_with_holidays,
    access_read_roles_and_read_only_customers_cannot_file,
    idempotency_key_replays_and_refuses_reuse,
    optimistic_concurrency_refuses_stale_versions,
    status_state_machine_lists_allowed_transitions,
    notes_are_appended_with_history_and_events,
    bad_input_is_refused_and_changes_nothing,
    eligibility_lists_every_blocker_before_filing,
    provider_grants_and_revokes_azure_access,
);

async fn r1_billing_disputes_and_fraud_are_filed_through_the_same_process(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    for kind in ["BILLING", "BILLING_DISPUTE", "FRAUD_CONCERN", "TECHNICAL_BREAK_FIX"] {
        let mut i = input(&t, &c, "MICROSOFT_365").await;
        i["incidentKind"] = json!(kind);
        let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
        assert_eq!(r["status"], "NEW");
        assert_eq!(r["history"]["edges"][0]["node"]["kind"], "CREATED");
        assert_eq!(r["history"]["edges"][0]["node"]["actor"]["email"], NORTHWIND_ADMIN);
    }
}

async fn r2_route_records_portal_by_cloud(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "AZURE").await).await;
    assert_eq!(r["route"]["kind"], "AZURE_PORTAL");
    assert_eq!(r["route"]["portalUrl"], format!("https://portal.azure.com/{}", c["primaryDomain"].as_str().unwrap()));
    let gov = customer(&t, ADATUM_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    let r = accepted(&t, ADATUM_ADMIN, &input(&t, &gov, "AZURE").await).await;
    assert_eq!(r["route"]["portalUrl"], format!("https://portal.azure.us/{}", gov["primaryDomain"].as_str().unwrap()));
    let m = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &m, "MICROSOFT_365").await).await;
    assert_eq!(r["route"]["kind"], "MICROSOFT_365_ADMIN_CENTER");
}

async fn r3_dynamics_needs_asfp_or_higher(t: TestApp) {
    // Tailspin has no support agreement; Northwind has ASfP.
    let c = customer(&t, TAILSPIN_ADMIN, |_| true).await;
    let mut i = input(&t, &c, "DYNAMICS_365").await;
    i["subscriptionId"] = Value::Null;
    let e = refused(&t, TAILSPIN_ADMIN, &i, "R3").await;
    assert!(
        e["extensions"]["violations"][0]["alternatives"]
            .as_array()
            .unwrap()
            .contains(&json!("ADVANCED_SUPPORT_FOR_PARTNERS"))
    );
    let c = customer(&t, NORTHWIND_ADMIN, |_| true).await;
    let mut i = input(&t, &c, "DYNAMICS_365").await;
    i["subscriptionId"] = Value::Null;
    accepted(&t, NORTHWIND_ADMIN, &i).await;
}

async fn r4_reseller_azure_needs_provider_granted_access(t: TestApp) {
    let c = customer(&t, LITWARE_ADMIN, |c| c["azureAccessGranted"] == false && c["delegatedAdminPrivileges"] == true)
        .await;
    let i = input(&t, &c, "AZURE").await;
    let e = refused(&t, LITWARE_ADMIN, &i, "R4").await;
    assert!(e["extensions"]["help"].as_str().unwrap().contains("indirect provider"));
    // The provider grants access; the same filing is then accepted.
    let (_, body) = t
        .gql_as(
            Some(FABRIKAM_ADMIN),
            "mutation($c: ID!) { grantAzureAccess(customerId: $c) { customer { azureAccessGranted } } }",
            json!({ "c": c["id"] }),
        )
        .await;
    assert_eq!(body["data"]["grantAzureAccess"]["customer"]["azureAccessGranted"], true, "{body}");
    accepted(&t, LITWARE_ADMIN, &i).await;
}

async fn r5_helpdesk_cannot_file_azure_and_is_told_the_workaround(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    let e = refused(&t, NORTHWIND_HELPDESK, &input(&t, &c, "AZURE").await, "R5").await;
    assert!(e["extensions"]["help"].as_str().unwrap().contains("support group"), "{e}");
    let m = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    accepted(&t, NORTHWIND_HELPDESK, &input(&t, &m, "MICROSOFT_365").await).await;
}

async fn r6_azure_requests_carry_the_csp_plan(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "AZURE").await).await;
    assert_eq!(r["supportPlan"], "CLOUD_SOLUTION_PROVIDER");
}

async fn r7_customer_contact_is_refused(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["contact"]["email"] = json!(format!("it@{}", c["primaryDomain"].as_str().unwrap().to_uppercase()));
    refused(&t, NORTHWIND_ADMIN, &i, "R7").await;
    i["contact"]["email"] = json!("desk@northwind-cloud.example");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["contact"]["email"], "desk@northwind-cloud.example");
}

async fn r8_without_dap_azure_must_name_an_azure_subscription(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == false).await;
    let mut i = input(&t, &c, "AZURE").await;
    let sub = i["subscriptionId"].clone();
    i["subscriptionId"] = Value::Null;
    refused(&t, NORTHWIND_ADMIN, &i, "R8").await;
    i["subscriptionId"] = sub;
    accepted(&t, NORTHWIND_ADMIN, &i).await;
}

async fn r9_office_dynamics_ems_need_a_topic(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["supportTopicId"] = Value::Null;
    refused(&t, NORTHWIND_ADMIN, &i, "R9").await;
    i["supportTopicId"] = json!(topic(&t, "AZURE").await);
    refused(&t, NORTHWIND_ADMIN, &i, "R9").await;
    i["supportTopicId"] = json!(topic(&t, "MICROSOFT_365").await);
    accepted(&t, NORTHWIND_ADMIN, &i).await;
}

async fn r10_marketplace_product_refused_with_isv_contacts(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    let mut i = input(&t, &c, "AZURE").await;
    i["marketplaceProductId"] = json!(gid("MarketplaceProduct", "product-treythreatshield"));
    let e = refused(&t, NORTHWIND_ADMIN, &i, "R10").await;
    let isv = &e["extensions"]["isvSupport"];
    assert_eq!(isv["websiteUrl"], "https://help.treyresearch.example");
    assert_eq!(isv["email"], Value::Null);
    assert_eq!(isv["phone"], Value::Null);
    assert_eq!(isv["publisher"], "Trey Research ISV");
}

async fn r11_csp_benefit_covers_trials_billing_and_subscription_management(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == true).await;
    for kind in ["BILLING", "SUBSCRIPTION_MANAGEMENT"] {
        let mut i = input(&t, &c, "AZURE").await;
        i["incidentKind"] = json!(kind);
        let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
        assert_eq!(r["feeCoverage"], "CSP_BENEFIT");
        assert_eq!(r["supportPlan"], "CLOUD_SOLUTION_PROVIDER");
    }
    // A trial subscription is covered too.
    let trial = customer(&t, NORTHWIND_ADMIN, |c| {
        c["subscriptions"]["edges"].as_array().unwrap().iter().any(|s| s["node"]["isTrial"] == true)
    })
    .await;
    let sub = trial["subscriptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"]["isTrial"] == true)
        .unwrap()["node"]
        .clone();
    let family = sub["productFamily"].as_str().unwrap();
    let mut i = input(&t, &trial, family).await;
    i["subscriptionId"] = sub["id"].clone();
    i["incidentKind"] = json!("BILLING");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["supportPlan"], "CLOUD_SOLUTION_PROVIDER");
}

async fn own_tenant_input(t: &TestApp, agent: &str, family: &str) -> Value {
    let d =
        t.data(agent, "{ viewer { partner { ownSubscriptions { nodes { id productFamily } } } } }", json!({})).await;
    let sub = d["viewer"]["partner"]["ownSubscriptions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["productFamily"] == family)
        .unwrap()["id"]
        .clone();
    let mut i = json!({
        "productFamily": family, "subscriptionId": sub, "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE",
        "title": "Our own tenant", "description": "Partner's own subscription", "contact": { "name": "Desk", "email": "desk@northwind-cloud.example" },
    });
    if family != "AZURE" {
        i["supportTopicId"] = json!(topic(t, family).await);
    }
    i
}

async fn r12_own_tenant_needs_a_valid_entitlement(t: TestApp) {
    let mut i = own_tenant_input(&t, NORTHWIND_ADMIN, "AZURE").await;
    let e = refused(&t, NORTHWIND_ADMIN, &i, "R12").await;
    assert_eq!(e["extensions"]["violations"][0]["alternatives"], json!(["MPN_CONTRACT"]));
    i["entitlement"] = json!({ "plan": "MPN_CONTRACT", "reference": "MPN-0000-0000" });
    refused(&t, NORTHWIND_ADMIN, &i, "R12").await;
    i["entitlement"] = json!({ "plan": "MPN_CONTRACT", "reference": "MPN-4410-2231" });
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["supportPlan"], "MPN_CONTRACT");
    assert_eq!(r["entitlementReference"], "MPN-4410-2231");
    assert_eq!(r["route"]["portalUrl"], "https://portal.azure.com");
    // Tailspin holds nothing that would do.
    let i = own_tenant_input(&t, TAILSPIN_ADMIN, "AZURE").await;
    let e = refused(&t, TAILSPIN_ADMIN, &i, "R12").await;
    assert_eq!(
        e["extensions"]["violations"][0]["alternatives"],
        json!(["MPN_CONTRACT", "PREMIER", "AZURE_SUPPORT_PLAN"])
    );
}

async fn r13_fee_coverage_is_recorded(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    assert_eq!(r["feeCoverage"], "NO_FEE");
    // Northwind's own Azure: Signature Cloud Support covers the fee.
    let mut i = own_tenant_input(&t, NORTHWIND_ADMIN, "AZURE").await;
    i["entitlement"] = json!({ "plan": "MPN_CONTRACT", "reference": "MPN-4410-2231" });
    assert_eq!(accepted(&t, NORTHWIND_ADMIN, &i).await["feeCoverage"], "SIGNATURE_CLOUD_SUPPORT");
    // Fabrikam's own Azure on its Premier agreement.
    let mut i = own_tenant_input(&t, FABRIKAM_ADMIN, "AZURE").await;
    i["entitlement"] = json!({ "plan": "PREMIER" });
    assert_eq!(accepted(&t, FABRIKAM_ADMIN, &i).await["feeCoverage"], "PREMIER");
}

async fn r14_phone_is_not_a_filing_channel(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["channel"] = json!("PHONE");
    refused(&t, NORTHWIND_ADMIN, &i, "R14").await;
    i["channel"] = json!("WEB");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert!(r["contact"].is_object(), "a phone number stays a contact detail");
}

async fn r15_severity_comes_from_business_impact(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    for (impact, severity) in [("CRITICAL", "A"), ("MODERATE", "B"), ("MINIMAL", "C")] {
        let mut i = input(&t, &c, "MICROSOFT_365").await;
        i["businessImpact"] = json!(impact);
        assert_eq!(accepted(&t, NORTHWIND_ADMIN, &i).await["severity"], severity);
    }
}

fn minutes_between(a: &Value, b: &Value) -> i64 {
    let a = chrono::DateTime::parse_from_rfc3339(a.as_str().unwrap()).unwrap();
    let b = chrono::DateTime::parse_from_rfc3339(b.as_str().unwrap()).unwrap();
    (b - a).num_minutes()
}

async fn s1_break_fix_targets_in_english_run_around_the_clock(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    for (impact, minutes) in [("CRITICAL", 120), ("MODERATE", 240), ("MINIMAL", 480)] {
        let mut i = input(&t, &c, "MICROSOFT_365").await;
        i["businessImpact"] = json!(impact);
        let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
        assert_eq!(r["sla"]["clock"], "TWENTY_FOUR_SEVEN");
        assert_eq!(r["sla"]["targetMinutes"], minutes);
        assert_eq!(minutes_between(&r["createdAt"], &r["sla"]["dueAt"]), minutes);
        assert_eq!(r["sla"]["state"], "ON_TRACK");
        assert_eq!(r["sla"]["remainingSeconds"], minutes * 60);
    }
}

async fn s2_other_languages_run_in_business_hours(t: TestApp) {
    // A German customer, filed in German at 15:00 UTC (16:00 Berlin) on a Wednesday: the
    // calendar works 08–12 and 13–17, so 2 business hours end at 09:00 Thursday Berlin time.
    let c = customer(&t, NORTHWIND_ADMIN, |c| {
        c["businessCalendar"]["timeZone"] == "Europe/Berlin" && subscription_of(c, "MICROSOFT_365").is_some()
    })
    .await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["supportLanguage"] = json!("de");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["sla"]["clock"], "BUSINESS_HOURS");
    assert_eq!(r["sla"]["dueAt"], "2026-11-26T08:00:00+00:00");
    assert_eq!(r["sla"]["remainingSeconds"], 7200, "remaining time counts working time only");
}

async fn s3_non_break_fix_is_one_business_day(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, |c| {
        c["businessCalendar"]["timeZone"] == "America/New_York" && subscription_of(c, "MICROSOFT_365").is_some()
    })
    .await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["incidentKind"] = json!("NON_BREAK_FIX");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["sla"]["clock"], "BUSINESS_HOURS");
    assert_eq!(r["sla"]["targetMinutes"], 480);
    // Wednesday 10:00 New York: 7 h left on Wednesday, Thursday is Thanksgiving, 1 h Friday.
    assert_eq!(r["sla"]["dueAt"], "2026-11-27T15:00:00+00:00");
}

async fn s4_first_response_stops_the_clock_met_or_breached(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let q = "mutation($i: RecordSupportResponseInput!) { recordSupportResponse(input: $i) { serviceRequest { version sla { state firstResponseAt remainingSeconds }
             notes { edges { node { authorKind body } } } history { edges { node { kind fromValue toValue } } } } } }";
    // In time: MET.
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    t.clock.advance(chrono::Duration::minutes(90));
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "i": { "id": r["id"], "note": "We are on it." } })).await;
    let s = &d["recordSupportResponse"]["serviceRequest"];
    assert_eq!(s["sla"]["state"], "MET");
    assert_eq!(s["sla"]["remainingSeconds"], 30 * 60, "frozen at the response");
    assert_eq!(s["notes"]["edges"][0]["node"]["authorKind"], "SUPPORT");
    let kinds: Vec<_> = s["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["node"]["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"SUPPORT_RESPONDED".to_owned()) && kinds.contains(&"SLA_STATE_CHANGED".to_owned()),
        "{kinds:?}"
    );
    // Later the clock does not move it.
    t.clock.advance(chrono::Duration::days(2));
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "query($id: ID!) { node(id: $id) { ... on ServiceRequest { sla { state remainingSeconds } } } }",
            json!({ "id": r["id"] }),
        )
        .await;
    assert_eq!(d["node"]["sla"]["state"], "MET");
    // A second response is refused.
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), q, json!({ "i": { "id": r["id"] } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
    // Late: stays BREACHED, with the response time recorded.
    let late = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    t.clock.advance(chrono::Duration::hours(3));
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "i": { "id": late["id"] } })).await;
    let s = &d["recordSupportResponse"]["serviceRequest"];
    assert_eq!(s["sla"]["state"], "BREACHED");
    assert!(s["sla"]["firstResponseAt"].is_string());
    assert_eq!(s["sla"]["remainingSeconds"], -3600);
}

async fn s4_severity_change_recomputes_the_due_time(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["businessImpact"] = json!("MINIMAL");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["sla"]["targetMinutes"], 480);
    t.clock.advance(chrono::Duration::minutes(150));
    let q = "mutation($i: ChangeSeverityInput!) { changeServiceRequestSeverity(input: $i) { serviceRequest { severity version sla { targetMinutes dueAt state } history { edges { node { kind fromValue toValue } } } } } }";
    let d = t
        .data(NORTHWIND_ADMIN, q, json!({ "i": { "id": r["id"], "severity": "A", "expectedVersion": r["version"] } }))
        .await;
    let s = &d["changeServiceRequestSeverity"]["serviceRequest"];
    assert_eq!(s["severity"], "A");
    assert_eq!(s["sla"]["targetMinutes"], 120);
    assert_eq!(minutes_between(&r["createdAt"], &s["sla"]["dueAt"]), 120, "due from the filing instant");
    assert_eq!(s["sla"]["state"], "BREACHED", "150 minutes in, a 2-hour target is already missed");
    let history: Vec<_> = s["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["node"]["kind"].as_str().unwrap().to_owned(), h["node"]["toValue"].clone()))
        .collect();
    assert!(history.contains(&("SEVERITY_CHANGED".to_owned(), json!("A"))));
    assert!(history.contains(&("SLA_STATE_CHANGED".to_owned(), json!("BREACHED"))), "{history:?}");
}

async fn s5_calendar_follows_the_customer_with_holidays(t: TestApp) {
    // Thanksgiving (26 November) is a holiday of the US calendar: a billing request filed
    // Wednesday 16:30 New York time gets 30 minutes Wednesday and 7.5 hours on Friday.
    t.clock.set(chrono::DateTime::parse_from_rfc3339("2026-11-25T21:30:00Z").unwrap().into());
    let c = customer(&t, NORTHWIND_ADMIN, |c| {
        c["businessCalendar"]["timeZone"] == "America/New_York" && subscription_of(c, "MICROSOFT_365").is_some()
    })
    .await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["incidentKind"] = json!("BILLING");
    let r = accepted(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(r["sla"]["dueAt"], "2026-11-27T21:30:00+00:00");
}

async fn access_read_roles_and_read_only_customers_cannot_file(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let i = input(&t, &c, "MICROSOFT_365").await;
    refused(&t, NORTHWIND_SALES, &i, "ACCESS").await;
    refused(&t, "billing@northwind-cloud.example", &i, "ACCESS").await;
    // Fabrikam sees Litware's customers read-only.
    let lc = customer(&t, FABRIKAM_ADMIN, |c| c["readOnly"] == true && has_family("MICROSOFT_365")(c)).await;
    refused(&t, FABRIKAM_ADMIN, &input(&t, &lc, "MICROSOFT_365").await, "ACCESS").await;
    // Another partner's customer does not exist for the caller.
    let before = write_counts(&t).await;
    let (_, body) = t.gql_as(Some(TAILSPIN_ADMIN), CREATE, json!({ "input": i })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    assert_eq!(write_counts(&t).await, before);
}

async fn idempotency_key_replays_and_refuses_reuse(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let mut i = input(&t, &c, "MICROSOFT_365").await;
    i["idempotencyKey"] = json!("retry-7f3a");
    let (first, _) = create(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(first["replayed"], false);
    let after_first = write_counts(&t).await;
    let (second, _) = create(&t, NORTHWIND_ADMIN, &i).await;
    assert_eq!(second["replayed"], true);
    assert_eq!(second["serviceRequest"]["id"], first["serviceRequest"]["id"]);
    assert_eq!(write_counts(&t).await, after_first, "a replay creates nothing");
    // Same key, any field different: the channel too.
    let mut by_phone = i.clone();
    by_phone["channel"] = json!("PHONE");
    let (payload, error) = create(&t, NORTHWIND_ADMIN, &by_phone).await;
    assert!(payload.is_null(), "a retry by another channel is another request: {payload}");
    assert_eq!(error["extensions"]["code"], "CONFLICT", "{error}");
    let mut entitled = i.clone();
    entitled["entitlement"] = json!({ "plan": "PREMIER" });
    let (_, error) = create(&t, NORTHWIND_ADMIN, &entitled).await;
    assert_eq!(error["extensions"]["code"], "CONFLICT", "{error}");
    // Same key, different request.
    i["title"] = json!("Something else");
    let (payload, error) = create(&t, NORTHWIND_ADMIN, &i).await;
    assert!(payload.is_null());
    assert_eq!(error["extensions"]["code"], "CONFLICT");
    assert_eq!(write_counts(&t).await, after_first);
    // Keys are per partner: another partner may use the same key.
    let other = customer(&t, ADATUM_ADMIN, has_family("MICROSOFT_365")).await;
    let mut j = input(&t, &other, "MICROSOFT_365").await;
    j["idempotencyKey"] = json!("retry-7f3a");
    let (p, e) = create(&t, ADATUM_ADMIN, &j).await;
    assert!(e.is_null(), "{e}");
    assert_eq!(p["replayed"], false);
}

async fn optimistic_concurrency_refuses_stale_versions(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    let q = "mutation($i: ChangeServiceRequestStatusInput!) { changeServiceRequestStatus(input: $i) { serviceRequest { status version } } }";
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "i": { "id": r["id"], "status": "OPEN", "expectedVersion": 1 } })).await;
    assert_eq!(d["changeServiceRequestStatus"]["serviceRequest"]["version"], 2);
    // A second agent still holding version 1.
    let before = write_counts(&t).await;
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_HELPDESK),
            q,
            json!({ "i": { "id": r["id"], "status": "IN_PROGRESS", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["currentVersion"], 2);
    assert_eq!(write_counts(&t).await, before);
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "query($id: ID!) { node(id: $id) { ... on ServiceRequest { status version } } }",
            json!({ "id": r["id"] }),
        )
        .await;
    assert_eq!(d["node"]["status"], "OPEN", "nothing overwritten");
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { version } } }", json!({ "i": { "id": r["id"], "body": "x", "expectedVersion": 1 } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
}

async fn status_state_machine_lists_allowed_transitions(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    let q = "mutation($i: ChangeServiceRequestStatusInput!) { changeServiceRequestStatus(input: $i) { serviceRequest { status version closedAt history { edges { node { kind fromValue toValue actor { email } } } } } } }";
    let mut version = 1;
    for status in ["OPEN", "IN_PROGRESS", "WAITING_ON_PARTNER", "IN_PROGRESS", "RESOLVED", "OPEN", "RESOLVED", "CLOSED"]
    {
        let d = t
            .data(NORTHWIND_ADMIN, q, json!({ "i": { "id": r["id"], "status": status, "expectedVersion": version } }))
            .await;
        let s = &d["changeServiceRequestStatus"]["serviceRequest"];
        assert_eq!(s["status"], status);
        version = s["version"].as_i64().unwrap();
        assert_eq!(s["closedAt"].is_string(), status == "CLOSED");
        let last = s["history"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["node"]["kind"] == "STATUS_CHANGED")
            .unwrap()["node"]
            .clone();
        assert_eq!(last["toValue"].as_str(), Some(status));
        assert_eq!(last["actor"]["email"], NORTHWIND_ADMIN);
    }
    // Closed is final.
    let before = write_counts(&t).await;
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            q,
            json!({ "i": { "id": r["id"], "status": "OPEN", "expectedVersion": version } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_TRANSITION");
    assert_eq!(body["errors"][0]["extensions"]["allowed"], json!([]));
    // NEW cannot jump to RESOLVED; the allowed moves are listed.
    let r2 = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            q,
            json!({ "i": { "id": r2["id"], "status": "RESOLVED", "expectedVersion": 1 } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["allowed"], json!(["OPEN", "CLOSED"]));
    let after = write_counts(&t).await;
    let delta: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, vec![1, 1, 0, 1, 0, 0], "only the second filing wrote (request, history, event)");
}

async fn notes_are_appended_with_history_and_events(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let r = accepted(&t, NORTHWIND_ADMIN, &input(&t, &c, "MICROSOFT_365").await).await;
    let before = write_counts(&t).await;
    let q = "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { version notes { totalCount edges { node { body authorKind author { email } } } } } } }";
    for (n, body) in ["Customer confirmed impact.", "Logs attached."].iter().enumerate() {
        let d = t.data(NORTHWIND_HELPDESK, q, json!({ "i": { "id": r["id"], "body": body } })).await;
        let s = &d["addServiceRequestNote"]["serviceRequest"];
        assert_eq!(s["notes"]["totalCount"], n + 1);
        assert_eq!(s["notes"]["edges"][n]["node"]["body"], *body);
        assert_eq!(s["notes"]["edges"][n]["node"]["author"]["email"], NORTHWIND_HELPDESK);
        assert_eq!(s["version"], n + 2);
    }
    let after = write_counts(&t).await;
    assert_eq!(
        [after[1] - before[1], after[2] - before[2], after[3] - before[3]],
        [2, 2, 2],
        "a history entry, a note and an event each"
    );
}

async fn bad_input_is_refused_and_changes_nothing(t: TestApp) {
    let c = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let other_customer = customer(&t, NORTHWIND_ADMIN, |x| x["id"] != c["id"] && has_family("MICROSOFT_365")(x)).await;
    let base = input(&t, &c, "MICROSOFT_365").await;
    let adatum = customer(&t, ADATUM_ADMIN, |_| true).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty title", json!({ "title": "   " }), "BAD_USER_INPUT"),
        ("oversize title", json!({ "title": "x".repeat(201) }), "BAD_USER_INPUT"),
        ("oversize description", json!({ "description": "x".repeat(20_001) }), "BAD_USER_INPUT"),
        ("NUL byte", json!({ "title": "bad\u{0}title" }), "BAD_USER_INPUT"),
        ("title of zero-width spaces", json!({ "title": "\u{200B}\u{200B}\u{200B}" }), "BAD_USER_INPUT"),
        ("title of invisible fillers", json!({ "title": " \u{3164}\u{2800}\u{FEFF} " }), "BAD_USER_INPUT"),
        ("right-to-left override in the title", json!({ "title": "invoice\u{202E}fdp.exe" }), "BAD_USER_INPUT"),
        ("isolate in the description", json!({ "description": "a\u{2067}b\u{2069}" }), "BAD_USER_INPUT"),
        (
            "override in the contact name",
            json!({ "contact": { "name": "Desk\u{202D}", "email": "d@p.example" } }),
            "BAD_USER_INPUT",
        ),
        ("bad e-mail", json!({ "contact": { "name": "D", "email": "not-an-email" } }), "BAD_USER_INPUT"),
        (
            "bad phone",
            json!({ "contact": { "name": "D", "email": "d@p.example", "phone": "call me" } }),
            "BAD_USER_INPUT",
        ),
        ("bad language", json!({ "supportLanguage": "english please" }), "BAD_USER_INPUT"),
        ("malformed id", json!({ "customerId": "garbage" }), "BAD_USER_INPUT"),
        ("id of another type", json!({ "customerId": base["subscriptionId"] }), "BAD_USER_INPUT"),
        ("unknown customer", json!({ "customerId": gid("Customer", "nope") }), "NOT_FOUND"),
        ("another partner's customer", json!({ "customerId": adatum["id"] }), "NOT_FOUND"),
        (
            "subscription of another customer",
            json!({ "subscriptionId": subscription_of(&other_customer, "MICROSOFT_365") }),
            "BAD_USER_INPUT",
        ),
        ("subscription of another family", json!({ "subscriptionId": subscription_of(&c, "AZURE") }), "BAD_USER_INPUT"),
        ("unknown topic", json!({ "supportTopicId": gid("SupportTopic", "nope") }), "NOT_FOUND"),
        (
            "SQL in text is only text",
            json!({ "title": "'; DROP TABLE service_requests; --", "idempotencyKey": "k1" }),
            "OK",
        ),
    ];
    for (name, patch, code) in cases {
        let mut i = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            i[k] = v.clone();
        }
        let before = write_counts(&t).await;
        let (status, body) = t.gql_as(Some(NORTHWIND_ADMIN), CREATE, json!({ "input": i })).await;
        assert_eq!(status, axum::http::StatusCode::OK, "{name}");
        if code == "OK" {
            assert!(body["errors"].is_null(), "{name}: {body}");
            assert_eq!(body["data"]["createServiceRequest"]["serviceRequest"]["severity"], "A");
            continue;
        }
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{name}: {body}");
        if code == "BAD_USER_INPUT" && name.contains("title") {
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("`title`"), "{name}: the refusal names the field: {message}");
        }
        assert_eq!(write_counts(&t).await, before, "{name} wrote something");
    }
    // A wrong enum value is a validation error before anything runs.
    let mut i = base.clone();
    i["productFamily"] = json!("WINDOWS");
    let before = write_counts(&t).await;
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), CREATE, json!({ "input": i })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("WINDOWS"), "{body}");
    assert_eq!(write_counts(&t).await, before);
}

async fn eligibility_lists_every_blocker_before_filing(t: TestApp) {
    let q = "query($c: ID, $f: ProductFamily!, $s: ID, $m: ID) { supportEligibility(customerId: $c, productFamily: $f, subscriptionId: $s, marketplaceProductId: $m) {
      eligible blockers { rule message help alternatives isvName isvSupport { websiteUrl email phone } } route { kind portalUrl }
      supportPlan feeCoverage requiresSupportTopic requiresAzureSubscription requiresEntitlement } }";
    let c = customer(&t, NORTHWIND_ADMIN, |c| c["delegatedAdminPrivileges"] == false).await;
    let d = t
        .data(
            NORTHWIND_HELPDESK,
            q,
            json!({ "c": c["id"], "f": "AZURE", "m": gid("MarketplaceProduct", "product-lamnasecuregateway") }),
        )
        .await;
    let e = &d["supportEligibility"];
    assert_eq!(e["eligible"], false);
    let rules: Vec<_> =
        e["blockers"].as_array().unwrap().iter().map(|b| b["rule"].as_str().unwrap().to_owned()).collect();
    assert_eq!(rules, vec!["R10", "R5"], "every blocker, not just the first");
    assert_eq!(e["blockers"][0]["isvSupport"]["phone"], "+44 20 7946 0321");
    assert_eq!(e["requiresAzureSubscription"], true);
    assert_eq!(e["route"]["kind"], "AZURE_PORTAL");
    let m = customer(&t, NORTHWIND_ADMIN, has_family("MICROSOFT_365")).await;
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "c": m["id"], "f": "MICROSOFT_365" })).await;
    let e = &d["supportEligibility"];
    assert_eq!(
        (e["eligible"].clone(), e["requiresSupportTopic"].clone(), e["feeCoverage"].clone()),
        (json!(true), json!(true), json!("NO_FEE"))
    );
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "f": "AZURE" })).await;
    assert_eq!(d["supportEligibility"]["requiresEntitlement"], true);
    let d = t.data(TAILSPIN_ADMIN, q, json!({ "f": "AZURE" })).await;
    assert_eq!(d["supportEligibility"]["blockers"][0]["rule"], "R12");
}

async fn provider_grants_and_revokes_azure_access(t: TestApp) {
    let c = customer(&t, FABRIKAM_ADMIN, |c| c["readOnly"] == true && c["azureAccessGranted"] == false).await;
    let grant = "mutation($c: ID!) { grantAzureAccess(customerId: $c) { customer { azureAccessGranted } } }";
    let revoke = "mutation($c: ID!) { revokeAzureAccess(customerId: $c) { customer { azureAccessGranted } } }";
    // Not the reseller, not a helpdesk agent, not another partner.
    for (agent, code) in [
        (LITWARE_ADMIN, "FORBIDDEN"),
        ("helpdesk@fabrikam-distribution.example", "FORBIDDEN"),
        (NORTHWIND_ADMIN, "NOT_FOUND"),
    ] {
        let before = write_counts(&t).await;
        let (_, body) = t.gql_as(Some(agent), grant, json!({ "c": c["id"] })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{agent}: {body}");
        assert_eq!(write_counts(&t).await, before);
    }
    let before = write_counts(&t).await;
    let d = t.data(FABRIKAM_ADMIN, grant, json!({ "c": c["id"] })).await;
    assert_eq!(d["grantAzureAccess"]["customer"]["azureAccessGranted"], true);
    let after = write_counts(&t).await;
    assert_eq!((after[3] - before[3], after[5] - before[5]), (2, 1), "an event for provider and reseller");
    let d = t
        .data(
            LITWARE_ADMIN,
            "query($c: ID!) { node(id: $c) { ... on Customer { azureAccessGranted } } }",
            json!({ "c": c["id"] }),
        )
        .await;
    assert_eq!(d["node"]["azureAccessGranted"], true, "the reseller sees it");
    let d = t.data(FABRIKAM_ADMIN, revoke, json!({ "c": c["id"] })).await;
    assert_eq!(d["revokeAzureAccess"]["customer"]["azureAccessGranted"], false);
}
