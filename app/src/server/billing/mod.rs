//! Plans and payments: Stripe's signed callbacks and what they do to a team's tier
//! (here), checkout and the billing page ([`checkout`]), and PhonePe, the provider for
//! teams paying in rupees ([`phonepe`]).
//!
//! Every authentic event is recorded under its id in the same transaction as its
//! effect, so a redelivered event (Stripe delivers at least once, in any order, and
//! retries for days) has one effect however often and however concurrently it comes.
//! A subscription's state is taken from the object in the event, never from the order
//! events arrive in: each team keeps the time of the event its state came from, and an
//! older event changes nothing.
//!
//! Tier rules: an active (or trialing) subscription sets the plan of its price, with
//! its period; `past_due` keeps the tier for [`GRACE_DAYS`] days with a banner, then
//! the team is on Free until a payment succeeds; a subscription that ends (deleted,
//! `canceled`, `unpaid`, `incomplete_expired`) puts the team on Free. A bigger quota
//! at once makes the team's held incidents eligible, within the new limit.

pub mod checkout;
pub mod phonepe;
pub mod signature;
pub mod simulated;
pub mod stripe_api;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::server::audit::{self, Actor};
use crate::server::config::StripeSettings;

/// Days a team keeps its paid tier while a payment is past due.
pub const GRACE_DAYS: i64 = 7;

/// The payment provider, as the audit trail names it.
pub const PROVIDER: &str = "Stripe";

/// What became of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Its effect was applied.
    Applied,
    /// Seen before: nothing done again.
    Duplicate,
    /// A type we do not act on, or an event with nothing left to change (e.g. older
    /// than the state it would set): recorded, acknowledged.
    Ignored(String),
    /// Authentic but not understood: stored raw, acknowledged, logged.
    Unparsed(String),
}

/// The event envelope.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: EnvelopeData,
}

#[derive(Deserialize)]
struct EnvelopeData {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct CheckoutSession {
    id: String,
    client_reference_id: Option<String>,
    customer: Option<serde_json::Value>,
    subscription: Option<serde_json::Value>,
    payment_status: Option<String>,
}

#[derive(Deserialize)]
struct Subscription {
    id: String,
    customer: serde_json::Value,
    status: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    metadata: Option<HashMap<String, String>>,
    items: SubscriptionItems,
    /// Older API versions keep the period on the subscription, newer ones on its items.
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct SubscriptionItems {
    data: Vec<SubscriptionItem>,
}

#[derive(Deserialize)]
struct SubscriptionItem {
    price: Price,
    current_period_start: Option<i64>,
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct Price {
    id: String,
}

#[derive(Deserialize)]
struct Invoice {
    customer: Option<serde_json::Value>,
    subscription: Option<serde_json::Value>,
    parent: Option<serde_json::Value>,
}

/// An id that may come expanded (`{"id": ...}`) or as a plain string.
fn id_of(value: &Option<serde_json::Value>) -> Option<String> {
    match value.as_ref()? {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(object) => object.get("id")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// Applies an authentic delivery (its signature was verified on `raw`).
pub async fn handle(pool: &PgPool, stripe: &StripeSettings, raw: &[u8]) -> Result<Handled, sqlx::Error> {
    let envelope: Envelope = match serde_json::from_slice(raw) {
        Ok(envelope) => envelope,
        Err(error) => {
            // Stored under the body's digest, so that its redeliveries are one row.
            let id = format!("unparsed_{}", hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(raw)[..16]));
            let reason = format!("the event does not parse: {error}");
            return record_unparsed(pool, &id, "unknown", Utc::now(), raw, &reason).await;
        }
    };
    let created = DateTime::from_timestamp(envelope.created, 0).unwrap_or_else(Utc::now);
    let mut tx = pool.begin().await?;
    let fresh: Option<String> = sqlx::query_scalar(
        "insert into stripe_events (id, type, created, payload, outcome) values ($1, $2, $3, $4, 'pending')
         on conflict (id) do nothing returning id",
    )
    .bind(&envelope.id)
    .bind(&envelope.kind)
    .bind(created)
    .bind(raw)
    .fetch_optional(&mut *tx)
    .await?;
    if fresh.is_none() {
        return Ok(Handled::Duplicate);
    }
    let applied = match envelope.kind.as_str() {
        "checkout.session.completed" => match serde_json::from_value::<CheckoutSession>(envelope.data.object) {
            Ok(session) => checkout_completed(&mut tx, created, &session).await?,
            Err(error) => Err(format!("the checkout session does not parse: {error}")),
        },
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            match serde_json::from_value::<Subscription>(envelope.data.object) {
                Ok(subscription) => {
                    let ended = envelope.kind == "customer.subscription.deleted";
                    subscription_changed(&mut tx, stripe, created, &subscription, ended).await?
                }
                Err(error) => Err(format!("the subscription does not parse: {error}")),
            }
        }
        "invoice.paid" | "invoice.payment_failed" => match serde_json::from_value::<Invoice>(envelope.data.object) {
            Ok(invoice) => invoice_settled(&mut tx, created, &invoice, envelope.kind == "invoice.paid").await?,
            Err(error) => Err(format!("the invoice does not parse: {error}")),
        },
        other => Ok(Effect::Ignored(format!("{other} is not an event DreamOps acts on"))),
    };
    let (outcome, detail, team, handled) = match applied {
        Ok(Effect::Applied(team)) => ("applied", None, Some(team), Handled::Applied),
        Ok(Effect::Ignored(reason)) => ("ignored", Some(reason.clone()), None, Handled::Ignored(reason)),
        Ok(Effect::IgnoredFor(team, reason)) => ("ignored", Some(reason.clone()), Some(team), Handled::Ignored(reason)),
        Err(reason) => {
            tracing::warn!(event = %envelope.id, kind = %envelope.kind, %reason, "stored a Stripe event we could not parse");
            ("unparsed", Some(reason.clone()), None, Handled::Unparsed(reason))
        }
    };
    sqlx::query("update stripe_events set outcome = $2, detail = $3, team_id = $4 where id = $1")
        .bind(&envelope.id)
        .bind(outcome)
        .bind(&detail)
        .bind(team)
        .execute(&mut *tx)
        .await?;
    if let Some(team) = team {
        let details = serde_json::json!({ "event": envelope.id, "outcome": outcome, "detail": detail });
        audit::record(
            &mut *tx,
            audit::Event {
                team_id: team,
                actor: &Actor::PaymentProvider(PROVIDER),
                action: &format!("billing.{}", envelope.kind),
                target: Some(&envelope.id),
                client_addr: None,
                details,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(handled)
}

async fn record_unparsed(
    pool: &PgPool,
    id: &str,
    kind: &str,
    created: DateTime<Utc>,
    raw: &[u8],
    reason: &str,
) -> Result<Handled, sqlx::Error> {
    tracing::warn!(event = %id, %reason, "stored a Stripe event we could not parse");
    let stored: Option<String> = sqlx::query_scalar(
        "insert into stripe_events (id, type, created, payload, outcome, detail) values ($1, $2, $3, $4, 'unparsed', $5)
         on conflict (id) do nothing returning id",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .bind(raw)
    .bind(reason)
    .fetch_optional(pool)
    .await?;
    Ok(if stored.is_some() { Handled::Unparsed(reason.to_string()) } else { Handled::Duplicate })
}

/// What an event did.
enum Effect {
    Applied(Uuid),
    Ignored(String),
    IgnoredFor(Uuid, String),
}

/// A completed checkout links the team to its Stripe customer and subscription and, once
/// paid, puts it on the plan it bought. The session must be one DreamOps opened for that
/// team: a `client_reference_id` naming another team changes nothing.
async fn checkout_completed(
    tx: &mut Transaction<'_, Postgres>,
    created: DateTime<Utc>,
    session: &CheckoutSession,
) -> Result<Result<Effect, String>, sqlx::Error> {
    let opened: Option<(Uuid, String)> =
        sqlx::query_as("select team_id, plan from checkout_sessions where id = $1 for update")
            .bind(&session.id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((team, plan)) = opened else {
        return Ok(Ok(Effect::Ignored(format!("checkout session {} was not opened by DreamOps", session.id))));
    };
    if session.client_reference_id.as_deref().is_some_and(|reference| reference != team.to_string()) {
        tracing::warn!(session = %session.id, "a checkout session's client_reference_id names another team; ignored");
        return Ok(Ok(Effect::IgnoredFor(team, "client_reference_id does not match the session's team".into())));
    }
    sqlx::query("update checkout_sessions set completed_at = coalesce(completed_at, $2) where id = $1")
        .bind(&session.id)
        .bind(created)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "update teams set stripe_customer_id = coalesce($2, stripe_customer_id),
                          stripe_subscription_id = coalesce($3, stripe_subscription_id)
         where id = $1",
    )
    .bind(team)
    .bind(id_of(&session.customer))
    .bind(id_of(&session.subscription))
    .execute(&mut **tx)
    .await?;
    if session.payment_status.as_deref() != Some("paid") {
        return Ok(Ok(Effect::IgnoredFor(team, "the checkout is not paid yet".into())));
    }
    // The subscription's own events carry its period; until one arrives, a month from
    // the checkout.
    let state = State {
        plan,
        status: "active".into(),
        period_start: Some(created),
        period_end: Some(created + chrono::Months::new(1)),
        cancel_at_period_end: false,
    };
    apply_state(tx, team, created, &state).await
}

/// The tier a subscription's state gives.
struct State {
    plan: String,
    status: String,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
}

async fn subscription_changed(
    tx: &mut Transaction<'_, Postgres>,
    stripe: &StripeSettings,
    created: DateTime<Utc>,
    subscription: &Subscription,
    ended: bool,
) -> Result<Result<Effect, String>, sqlx::Error> {
    let metadata_team =
        subscription.metadata.as_ref().and_then(|m| m.get("team_id")).and_then(|id| id.parse::<Uuid>().ok());
    let customer = id_of(&Some(subscription.customer.clone()));
    // The team named in the metadata must be the one that checkout linked to this
    // subscription or customer, when one is linked.
    let linked: Option<Uuid> = sqlx::query_scalar(
        "select id from teams where stripe_subscription_id = $1 or (stripe_customer_id = $2 and $2 is not null)
         order by (stripe_subscription_id = $1) desc limit 1",
    )
    .bind(&subscription.id)
    .bind(&customer)
    .fetch_optional(&mut **tx)
    .await?;
    let team = match (linked, metadata_team) {
        (Some(linked), Some(named)) if linked != named => {
            tracing::warn!(subscription = %subscription.id, "a subscription's metadata names another team; ignored");
            return Ok(Ok(Effect::IgnoredFor(linked, "the subscription's metadata names another team".into())));
        }
        (Some(team), _) => team,
        (None, Some(named)) => {
            // Not linked yet (the checkout's event may come later): only a team that
            // opened a checkout may be named.
            let opened: bool = sqlx::query_scalar("select exists (select 1 from checkout_sessions where team_id = $1)")
                .bind(named)
                .fetch_one(&mut **tx)
                .await?;
            if !opened {
                return Ok(Ok(Effect::Ignored(format!(
                    "subscription {} names a team without a checkout",
                    subscription.id
                ))));
            }
            sqlx::query("update teams set stripe_subscription_id = $2, stripe_customer_id = coalesce($3, stripe_customer_id) where id = $1")
                .bind(named)
                .bind(&subscription.id)
                .bind(&customer)
                .execute(&mut **tx)
                .await?;
            named
        }
        (None, None) => return Ok(Ok(Effect::Ignored(format!("subscription {} belongs to no team", subscription.id)))),
    };
    let item = subscription.items.data.first();
    let Some(plan) = item.and_then(|item| stripe.plan_of(&item.price.id)).map(str::to_string).or_else(|| {
        subscription
            .metadata
            .as_ref()
            .and_then(|m| m.get("plan"))
            .filter(|plan| stripe.price_of(plan).is_some())
            .cloned()
    }) else {
        return Ok(Err(format!("subscription {} is for a price no plan is sold at", subscription.id)));
    };
    let at = |seconds: Option<i64>| seconds.and_then(|s| DateTime::from_timestamp(s, 0));
    let state = State {
        plan,
        status: if ended { "canceled".into() } else { subscription.status.clone() },
        period_start: at(item.and_then(|i| i.current_period_start).or(subscription.current_period_start)),
        period_end: at(item.and_then(|i| i.current_period_end).or(subscription.current_period_end)),
        cancel_at_period_end: subscription.cancel_at_period_end,
    };
    apply_state(tx, team, created, &state).await
}

/// Sets the team's tier from `state`, unless the team's state comes from a later event
/// (on a tie, an ended subscription wins: nothing follows its end). A bigger quota makes
/// held incidents eligible at once.
async fn apply_state(
    tx: &mut Transaction<'_, Postgres>,
    team: Uuid,
    as_of: DateTime<Utc>,
    state: &State,
) -> Result<Result<Effect, String>, sqlx::Error> {
    let paid = matches!(state.status.as_str(), "active" | "trialing" | "past_due");
    let ended = matches!(state.status.as_str(), "canceled" | "unpaid" | "incomplete_expired");
    if !paid && !ended {
        // `incomplete`, `paused`: nothing to change yet.
        return Ok(Ok(Effect::IgnoredFor(team, format!("a {} subscription changes no tier", state.status))));
    }
    let changed: Option<Uuid> = sqlx::query_scalar(
        "update teams set
             plan = case when $3 then 'free' else $4 end,
             subscription_status = $5,
             period_start = case when $3 then null else $6 end,
             period_end = case when $3 then null else $7 end,
             cancel_at_period_end = $8 and not $3,
             past_due_since = case when $5 = 'past_due' then coalesce(past_due_since, $2) end,
             subscription_as_of = $2
         where id = $1
           and (subscription_as_of is null or subscription_as_of < $2 or (subscription_as_of = $2 and $3))
         returning id",
    )
    .bind(team)
    .bind(as_of)
    .bind(ended)
    .bind(&state.plan)
    .bind(&state.status)
    .bind(state.period_start)
    .bind(state.period_end)
    .bind(state.cancel_at_period_end)
    .fetch_optional(&mut **tx)
    .await?;
    if changed.is_none() {
        return Ok(Ok(Effect::IgnoredFor(team, "an event newer than this one already set the subscription".into())));
    }
    crate::server::quota::release_held(&mut **tx, team).await?;
    Ok(Ok(Effect::Applied(team)))
}

/// A paid invoice ends a past-due spell; a failed one starts it (the tier stays for the
/// grace period). Either is kept for the billing page's payment history.
async fn invoice_settled(
    tx: &mut Transaction<'_, Postgres>,
    created: DateTime<Utc>,
    invoice: &Invoice,
    paid: bool,
) -> Result<Result<Effect, String>, sqlx::Error> {
    let subscription = id_of(&invoice.subscription).or_else(|| {
        invoice
            .parent
            .as_ref()
            .and_then(|parent| parent.pointer("/subscription_details/subscription"))
            .and_then(|id| id.as_str())
            .map(str::to_string)
    });
    let customer = id_of(&invoice.customer);
    let team: Option<Uuid> = sqlx::query_scalar(
        "select id from teams where (stripe_subscription_id = $1 and $1 is not null)
                                 or (stripe_customer_id = $2 and $2 is not null)
         limit 1",
    )
    .bind(&subscription)
    .bind(&customer)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(team) = team else {
        return Ok(Ok(Effect::Ignored("the invoice belongs to no team".into())));
    };
    if paid {
        sqlx::query(
            "update teams set past_due_since = null,
                              subscription_status = case when subscription_status = 'past_due' then 'active'
                                                         else subscription_status end
             where id = $1",
        )
        .bind(team)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(
            "update teams set past_due_since = coalesce(past_due_since, $2),
                              subscription_status = case when plan <> 'free' then 'past_due' else subscription_status end
             where id = $1",
        )
        .bind(team)
        .bind(created)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Ok(Effect::Applied(team)))
}

/// The webhook endpoint's signing secrets: the configured ones, or the development
/// secret derived from the server's key.
pub fn webhook_secrets(stripe: &StripeSettings, cipher: &crate::server::secrets::Cipher) -> Vec<String> {
    use secrecy::ExposeSecret as _;
    if stripe.webhook_secrets.is_empty() {
        vec![format!("whsec_dev_{}", cipher.derive("stripe webhook signing secret"))]
    } else {
        stripe.webhook_secrets.iter().map(|secret| secret.expose_secret().to_string()).collect()
    }
}

/// Puts teams whose payment has been past due longer than the grace period on Free
/// (run periodically); returns how many.
pub async fn end_expired_grace(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let ended = sqlx::query(
        "update teams set plan = 'free', period_start = null, period_end = null
         where plan <> 'free' and past_due_since < now() - make_interval(days => $1)",
    )
    .bind(GRACE_DAYS as i32)
    .execute(pool)
    .await?;
    Ok(ended.rows_affected())
}
