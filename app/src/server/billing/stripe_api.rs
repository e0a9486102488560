//! Stripe's API through the async-stripe client: Checkout Sessions in subscription
//! mode, customer-portal sessions, and cancelling (at the period's end, or at once for
//! a team being deleted). Used when a
//! secret key is configured (test mode needs none of it).

use std::collections::HashMap;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest as _};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{CancelSubscription, UpdateSubscription};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use uuid::Uuid;

use crate::error::{AppError, OrInternal};
use crate::server::config::StripeSettings;

fn failed(context: &'static str) -> impl Fn(stripe::StripeError) -> AppError {
    move |error| AppError::internal(context, &error)
}

/// A client with the configured key (and API address, when set).
pub fn client(stripe: &StripeSettings) -> Result<Client, AppError> {
    use secrecy::ExposeSecret as _;
    let key = stripe.secret_key.as_ref().ok_or(AppError::NotFound)?;
    let mut builder = ClientBuilder::new(key.expose_secret());
    if let Some(base) = &stripe.api_base {
        builder = builder.url(base.clone());
    }
    builder.build().map_err(failed("building the Stripe client failed"))
}

/// A new checkout.
pub struct Checkout {
    /// Stripe's session id (`cs_...`).
    pub id: String,
    /// Stripe's hosted checkout page.
    pub url: String,
}

/// Opens a Checkout Session for `team` to subscribe to `plan` at `price`. The team rides
/// along as `client_reference_id` and in the session's and the subscription's metadata;
/// `key` makes a retried request open one session.
pub async fn create_checkout(
    client: &Client,
    team: Uuid,
    plan: &str,
    price: &str,
    key: &str,
    return_base: &str,
) -> Result<Checkout, AppError> {
    let metadata = HashMap::from([("team_id".to_string(), team.to_string()), ("plan".to_string(), plan.to_string())]);
    let mut line_item = CreateCheckoutSessionLineItems::new();
    line_item.price = Some(price.to_string());
    line_item.quantity = Some(1);
    let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
    subscription_data.metadata = Some(metadata.clone());
    let idempotency = IdempotencyKey::new(key).or_internal("making an idempotency key failed")?;
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![line_item])
        .client_reference_id(team.to_string())
        .metadata(metadata)
        .subscription_data(subscription_data)
        .success_url(format!("{return_base}/settings/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}"))
        .cancel_url(format!("{return_base}/pricing?checkout=cancelled"))
        .customize()
        .request_strategy(RequestStrategy::Idempotent(idempotency))
        .send(client)
        .await
        .map_err(failed("opening a Stripe checkout failed"))?;
    let url = session.url.ok_or_else(|| {
        AppError::internal("opening a Stripe checkout failed", &std::io::Error::other("the session has no URL"))
    })?;
    Ok(Checkout { id: session.id.to_string(), url })
}

/// A customer-portal session for `customer`, returning to the billing page.
pub async fn portal(client: &Client, customer: &str, return_base: &str) -> Result<String, AppError> {
    let session = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url(format!("{return_base}/settings/billing"))
        .customize()
        .request_strategy(RequestStrategy::Idempotent(
            IdempotencyKey::new(format!("portal-{}", Uuid::new_v4()))
                .or_internal("making an idempotency key failed")?,
        ))
        .send(client)
        .await
        .map_err(failed("opening the Stripe billing portal failed"))?;
    Ok(session.url)
}

/// Ends `subscription` at the end of its period (Stripe then sends the events).
pub async fn cancel_at_period_end(client: &Client, subscription: &str) -> Result<(), AppError> {
    UpdateSubscription::new(subscription)
        .cancel_at_period_end(true)
        .send(client)
        .await
        .map_err(failed("cancelling the Stripe subscription failed"))?;
    Ok(())
}

/// Ends `subscription` now, without a final invoice: its team is being deleted. A
/// subscription Stripe no longer knows (already cancelled, or deleted there) is ended.
pub async fn cancel_now(client: &Client, subscription: &str) -> Result<(), AppError> {
    match CancelSubscription::new(subscription).send(client).await {
        Ok(_) => Ok(()),
        Err(stripe::StripeError::Stripe(error, 404)) => {
            tracing::info!(subscription, message = ?error.message, "Stripe no longer knows the subscription");
            Ok(())
        }
        Err(error) => Err(failed("cancelling the Stripe subscription failed")(error)),
    }
}
