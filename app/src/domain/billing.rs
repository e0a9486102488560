//! Plans and billing as the browser sees them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who a team pays through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentProvider {
    /// Stripe's checkout: a card, billed monthly until cancelled.
    #[default]
    Stripe,
    /// PhonePe's payment gateway, in rupees (UPI, cards, net banking): a month at a
    /// time, renewed by the team.
    Phonepe,
}

impl PaymentProvider {
    /// Every provider, in the order the billing page offers them.
    pub const ALL: [PaymentProvider; 2] = [PaymentProvider::Stripe, PaymentProvider::Phonepe];

    /// The name stored in the database and used in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::Stripe => "stripe",
            PaymentProvider::Phonepe => "phonepe",
        }
    }

    /// The provider's name.
    pub fn label(self) -> &'static str {
        match self {
            PaymentProvider::Stripe => "Stripe",
            PaymentProvider::Phonepe => "PhonePe",
        }
    }
}

impl std::str::FromStr for PaymentProvider {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PaymentProvider::ALL.into_iter().find(|provider| provider.as_str() == s).ok_or("no such payment provider")
    }
}

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
    /// Who the team pays through.
    pub provider: PaymentProvider,
    /// The providers this deployment offers (the team may switch while no Stripe
    /// subscription runs).
    pub providers: Vec<PaymentProvider>,
    /// Paying through PhonePe, whose months are bought one at a time: renewal is due
    /// by `period_end`.
    pub renews_by_hand: bool,
    /// Payments and failed payments, newest first.
    pub payments: Vec<PaymentRecord>,
}

/// One payment received from (or refused by) the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentRecord {
    pub at: DateTime<Utc>,
    /// Whether it was paid (or failed).
    pub paid: bool,
    /// In the currency's main unit, with the currency, when the event said.
    pub amount: Option<String>,
    /// The provider's event id (Stripe) or the transaction id (PhonePe).
    pub event_id: String,
    pub provider: PaymentProvider,
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
