//! Test mode's payments: the Stripe events a real checkout (or a cancellation in the
//! customer portal) would cause, in Stripe's own JSON shapes, signed with the webhook
//! secret and delivered to our own `/webhooks/stripe` — through the same verification
//! and the same effects as Stripe's deliveries.

use chrono::{DateTime, Months, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::signature;

/// One subscription as test mode describes it to the webhook.
#[derive(Clone, Debug)]
pub struct SimulatedSubscription {
    pub id: String,
    pub customer: String,
    pub team: Uuid,
    pub plan: String,
    pub price: String,
    /// Stripe's status: active, past_due, canceled, ...
    pub status: String,
    pub period_start: DateTime<Utc>,
    pub cancel_at_period_end: bool,
}

impl SimulatedSubscription {
    /// A new monthly subscription starting `at`.
    pub fn new(team: Uuid, plan: &str, price: &str, at: DateTime<Utc>) -> Self {
        let suffix = Uuid::new_v4().simple().to_string();
        Self {
            id: format!("sub_test_{}", &suffix[..24]),
            customer: format!("cus_test_{}", &suffix[8..]),
            team,
            plan: plan.to_string(),
            price: price.to_string(),
            status: "active".into(),
            period_start: at,
            cancel_at_period_end: false,
        }
    }

    /// The subscription object.
    pub fn object(&self) -> Value {
        let start = self.period_start.timestamp();
        let end = (self.period_start + Months::new(1)).timestamp();
        json!({
            "id": self.id, "object": "subscription", "customer": self.customer, "status": self.status,
            "cancel_at_period_end": self.cancel_at_period_end, "livemode": false, "created": start,
            "metadata": { "team_id": self.team.to_string(), "plan": self.plan },
            "items": { "object": "list", "data": [{
                "id": format!("si_{}", &self.id[9..]), "object": "subscription_item", "quantity": 1,
                "price": { "id": self.price, "object": "price", "currency": "inr", "recurring": { "interval": "month" } },
                "current_period_start": start, "current_period_end": end
            }]}
        })
    }
}

/// A Stripe event of `kind` about `object`, created `at`.
pub fn event(kind: &str, object: Value, at: DateTime<Utc>) -> Value {
    json!({
        "id": format!("evt_test_{}", Uuid::new_v4().simple()), "object": "event", "api_version": "2026-09-30",
        "created": at.timestamp(), "livemode": false, "pending_webhooks": 1, "type": kind,
        "request": { "id": null, "idempotency_key": null }, "data": { "object": object }
    })
}

/// The events of a paid checkout `session` for `subscription`, in the order Stripe
/// sends them (it promises no order; the webhook does not rely on one).
pub fn checkout_events(
    session: &str,
    subscription: &SimulatedSubscription,
    amount_inr: i64,
    at: DateTime<Utc>,
) -> Vec<Value> {
    let completed = json!({
        "id": session, "object": "checkout.session", "mode": "subscription", "status": "complete",
        "payment_status": "paid", "client_reference_id": subscription.team.to_string(),
        "customer": subscription.customer, "subscription": subscription.id,
        "metadata": { "team_id": subscription.team.to_string(), "plan": subscription.plan }
    });
    let invoice = json!({
        "id": format!("in_test_{}", &Uuid::new_v4().simple().to_string()[..24]), "object": "invoice",
        "customer": subscription.customer, "status": "paid", "currency": "inr",
        "amount_due": amount_inr * 100, "amount_paid": amount_inr * 100,
        "parent": { "type": "subscription_details", "subscription_details": { "subscription": subscription.id } }
    });
    vec![
        event("customer.subscription.created", subscription.object(), at),
        event("checkout.session.completed", completed, at),
        event("invoice.paid", invoice, at),
    ]
}

/// Delivers `event` to the webhook at `base_url`, signed with `secret` now; the status
/// the endpoint answered.
pub async fn deliver(base_url: &str, secret: &str, event: &Value) -> Result<u16, reqwest::Error> {
    let body = serde_json::to_vec(event).expect("JSON serializes");
    let header = signature::sign(secret, Utc::now().timestamp(), &body);
    let response = reqwest::Client::new()
        .post(format!("{base_url}/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}
