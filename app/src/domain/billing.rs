//! Plans and billing as the browser sees them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A plan on the pricing page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanView {
    /// `free`, `starter`, `pro`, `enterprise`.
    pub id: String,
    pub name: String,
    /// Alerts analysed per month; `None` for unlimited.
    pub monthly_alert_limit: Option<i32>,
    /// Whole rupees per month.
    pub price_inr: i32,
    /// The plan the pricing page recommends.
    pub recommended: bool,
}

/// What the pricing page needs besides the plans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Pricing {
    pub plans: Vec<PlanView>,
    /// The signed-in member's current plan, if signed in.
    pub current_plan: Option<String>,
    /// Whether the signed-in member may buy (owners).
    pub can_buy: bool,
    /// Payments are simulated (no Stripe key configured).
    pub test_mode: bool,
    /// Upgrades can be bought on this deployment (false: payments are not configured).
    pub upgrades: bool,
}

/// The billing page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BillingView {
    pub plan: String,
    pub plan_name: String,
    /// Stripe's subscription status (`active`, `past_due`, `canceled`, ...), if any.
    pub status: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    /// The subscription ends at the period's end.
    pub cancel_at_period_end: bool,
    /// Past due: the paid tier lasts until then.
    pub grace_ends: Option<DateTime<Utc>>,
    /// Past due beyond the grace period: the team is on Free until a payment succeeds.
    pub grace_over: bool,
    pub test_mode: bool,
    /// Payments and failed payments, newest first.
    pub payments: Vec<PaymentRecord>,
}

/// One payment event received from the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentRecord {
    pub at: DateTime<Utc>,
    /// Whether it was paid (or failed).
    pub paid: bool,
    /// In the currency's main unit, with the currency, when the event said.
    pub amount: Option<String>,
    /// The provider's event id.
    pub event_id: String,
}

/// A checkout in test mode, as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TestCheckout {
    pub session_id: String,
    pub team_name: String,
    pub plan_name: String,
    pub price_inr: i32,
    pub completed: bool,
}
