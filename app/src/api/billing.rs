//! Plans and billing: the pricing page, checkout, test mode's checkout page, the
//! billing page and cancellation.

use leptos::prelude::*;
use server_fn::codec::GetUrl;

use crate::domain::billing::{BillingView, Pricing, TestCheckout};
use crate::error::AppError;

/// The plans, and for a signed-in member their team's plan and whether they may buy.
#[server(prefix = "/api", endpoint = "get_pricing", input = GetUrl)]
pub async fn get_pricing() -> Result<Pricing, AppError> {
    let state = expect_context::<crate::server::state::AppState>();
    let member = match crate::server::auth::context::current_account().await {
        Ok(account) => account.in_team().ok(),
        Err(AppError::Unauthorized) => None,
        Err(error) => return Err(error),
    };
    crate::server::billing::checkout::pricing(&state, member.as_ref().map(|member| &member.acting)).await
}

/// Opens a checkout for `plan`; returns where to send the browser.
#[server(prefix = "/api", endpoint = "start_checkout")]
pub async fn start_checkout(plan: String) -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    auth.require_verified("upgrade")?;
    let return_base = crate::server::billing::checkout::return_base(auth.state(), auth.request.host.as_deref());
    crate::server::billing::checkout::start(auth.state(), &auth.acting, &plan, &return_base).await
}

/// Test mode's checkout page.
#[server(prefix = "/api", endpoint = "get_test_checkout", input = GetUrl)]
pub async fn get_test_checkout(session: String) -> Result<TestCheckout, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    crate::server::billing::checkout::test_checkout(auth.state(), &auth.acting, &session).await
}

/// Pays test mode's checkout with one of Stripe's test cards.
#[server(prefix = "/api", endpoint = "pay_test_checkout")]
pub async fn pay_test_checkout(session: String, card: String) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    crate::server::billing::checkout::pay_test_checkout(auth.state(), &auth.acting, &session, &card).await
}

/// The billing page.
#[server(prefix = "/api", endpoint = "get_billing", input = GetUrl)]
pub async fn get_billing() -> Result<BillingView, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    crate::server::billing::checkout::view(auth.state(), &auth.acting).await
}

/// Ends the subscription at the end of the current period.
#[server(prefix = "/api", endpoint = "cancel_subscription")]
pub async fn cancel_subscription() -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    crate::server::billing::checkout::cancel_at_period_end(auth.state(), &auth.acting).await
}

/// Stripe's customer portal (card, invoices, cancellation); where to send the browser.
#[server(prefix = "/api", endpoint = "open_billing_portal")]
pub async fn open_billing_portal() -> Result<String, AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    let return_base = crate::server::billing::checkout::return_base(auth.state(), auth.request.host.as_deref());
    crate::server::billing::checkout::portal(auth.state(), &auth.acting, &return_base).await
}

/// Makes `provider` the one the team pays through (while the team is on Free).
#[server(prefix = "/api", endpoint = "set_payment_provider")]
pub async fn set_payment_provider(provider: crate::domain::billing::PaymentProvider) -> Result<(), AppError> {
    use crate::domain::account::Permission;
    let auth = crate::server::auth::context::require(Permission::ManageBilling).await?;
    crate::server::billing::checkout::set_provider(auth.state(), &auth.acting, provider).await
}
