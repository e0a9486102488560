//! Buying a plan: opening a checkout, test mode's checkout page and cancellation, and
//! what the pricing and billing pages show.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::simulated::{self, SimulatedSubscription};
use super::stripe_api;
use super::{GRACE_DAYS, webhook_secrets};
use crate::domain::account::Permission;
use crate::domain::billing::{BillingView, PaymentProvider, PaymentRecord, PlanView, Pricing, TestCheckout};
use crate::error::{AppError, OrInternal};
use crate::server::audit::Acting;
use crate::server::state::AppState;

/// Stripe's test card that always succeeds.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// Stripe's test card that is always declined.
pub const CARD_DECLINED: &str = "4000000000000002";

/// Every plan, cheapest first.
pub async fn plans(db: &PgPool) -> Result<Vec<PlanView>, AppError> {
    let rows: Vec<(String, String, Option<i32>, i32, bool)> =
        sqlx::query_as("select id, name, monthly_alert_limit, price_inr, recommended from plans order by position")
            .fetch_all(db)
            .await
            .or_internal("reading the plans failed")?;
    Ok(rows
        .into_iter()
        .map(|(id, name, monthly_alert_limit, price_inr, recommended)| PlanView {
            id,
            name,
            monthly_alert_limit,
            price_inr,
            recommended,
        })
        .collect())
}

/// Why nothing can be bought on a deployment whose payments are off.
pub const NO_UPGRADES: &str = "Upgrades are not available on this deployment: its payments are not configured yet.";

/// The pricing page: the plans, and for a signed-in `member` their team's plan and
/// whether they may buy.
pub async fn pricing(state: &AppState, member: Option<&Acting>) -> Result<Pricing, AppError> {
    let plans = plans(&state.db).await?;
    let (current_plan, can_buy) = match member {
        Some(member) => {
            let plan: String = sqlx::query_scalar("select plan from teams where id = $1")
                .bind(member.team_id)
                .fetch_one(&state.db)
                .await
                .or_internal("reading the team's plan failed")?;
            (Some(plan), member.can(Permission::ManageBilling))
        }
        None => (None, false),
    };
    let stripe = &state.settings.stripe;
    Ok(Pricing { plans, current_plan, can_buy, test_mode: stripe.test_mode(), upgrades: stripe.upgrades() })
}

/// Opens a checkout for `plan` for the member's team, Stripe sending the browser back to
/// `return_base` ([`return_base`]); returns where to send the browser.
pub async fn start(state: &AppState, acting: &Acting, plan: &str, return_base: &str) -> Result<String, AppError> {
    let team = acting.team_id;
    let stripe = &state.settings.stripe;
    if !stripe.upgrades() {
        return Err(AppError::Conflict(NO_UPGRADES.into()));
    }
    let (current, provider) = plan_and_provider(state, team).await?;
    if provider == PaymentProvider::Phonepe {
        return super::phonepe::start(state, acting, plan, &current, return_base).await;
    }
    let Some(price) = stripe.price_of(plan) else {
        return Err(AppError::field("plan", "Choose Starter, Pro or Enterprise."));
    };
    if current == plan {
        return Err(AppError::Conflict("The team is on this plan already.".into()));
    }
    let (session, url) = if stripe.test_mode() {
        let session = format!("cs_test_dreamops_{}", Uuid::new_v4().simple());
        let url = format!("/billing/checkout/{session}");
        (session, url)
    } else {
        let client = stripe_api::client(stripe)?;
        let key = format!("checkout-{}", Uuid::new_v4());
        let checkout = stripe_api::create_checkout(&client, team, plan, price, &key, return_base).await?;
        (checkout.id, checkout.url)
    };
    sqlx::query("insert into checkout_sessions (id, team_id, plan, created_by) values ($1, $2, $3, $4)")
        .bind(&session)
        .bind(team)
        .bind(plan)
        .bind(acting.member()?.user_id)
        .execute(&state.db)
        .await
        .or_internal("opening a checkout failed")?;
    acting.audit(&state.db, "billing.checkout_started", Some(&session), serde_json::json!({ "plan": plan })).await?;
    Ok(url)
}

/// The team's plan and the provider it pays through ([`effective`]).
async fn plan_and_provider(state: &AppState, team: Uuid) -> Result<(String, PaymentProvider), AppError> {
    let (plan, provider): (String, String) = sqlx::query_as("select plan, payment_provider from teams where id = $1")
        .bind(team)
        .fetch_one(&state.db)
        .await
        .or_internal("reading the team's plan failed")?;
    Ok((plan, effective(state, provider.parse().unwrap_or_default())))
}

/// The provider a team pays through: the one it chose (`stored`, Stripe unless it chose)
/// while this deployment offers it, else the one the deployment offers — a deployment
/// selling through PhonePe alone sells every team through PhonePe.
fn effective(state: &AppState, stored: PaymentProvider) -> PaymentProvider {
    let offered = providers(state);
    if offered.contains(&stored) { stored } else { offered.first().copied().unwrap_or(stored) }
}

/// The providers this deployment offers: in test mode both (simulated unless
/// configured); live, those whose keys are set; none when upgrades are off.
pub fn providers(state: &AppState) -> Vec<PaymentProvider> {
    let stripe = &state.settings.stripe;
    if !stripe.upgrades() {
        return Vec::new();
    }
    let phonepe = super::phonepe::merchant(state).is_some();
    let stripe = stripe.test_mode() || stripe.secret_key.is_some();
    PaymentProvider::ALL
        .into_iter()
        .filter(|provider| match provider {
            PaymentProvider::Stripe => stripe,
            PaymentProvider::Phonepe => phonepe,
        })
        .collect()
}

/// Makes `provider` the one the member's team pays through. A team changes provider
/// only while it is on Free: a running Stripe subscription or a paid PhonePe month ends
/// (cancelled, it keeps its plan to the period's end) before the other provider sells.
pub async fn set_provider(state: &AppState, acting: &Acting, provider: PaymentProvider) -> Result<(), AppError> {
    if !providers(state).contains(&provider) {
        return Err(AppError::field("provider", format!("{} is not offered on this deployment.", provider.label())));
    }
    let (plan, current) = plan_and_provider(state, acting.team_id).await?;
    if current == provider {
        return Ok(());
    }
    if plan != "free" {
        return Err(AppError::Conflict(format!(
            "The team pays through {} for its current plan. Cancel the plan (it stays until the period ends), and choose {} once the team is on Free.",
            current.label(),
            provider.label()
        )));
    }
    let changed = sqlx::query("update teams set payment_provider = $2 where id = $1 and plan = 'free'")
        .bind(acting.team_id)
        .bind(provider.as_str())
        .execute(&state.db)
        .await
        .or_internal("changing the payment provider failed")?;
    if changed.rows_affected() == 0 {
        return Err(AppError::Conflict("The team's plan changed meanwhile: reload the page.".into()));
    }
    let details = serde_json::json!({ "from": current.as_str(), "to": provider.as_str() });
    acting.audit(&state.db, "billing.provider_changed", None, details).await
}

/// Test mode's checkout `session` of the member's team.
pub async fn test_checkout(state: &AppState, acting: &Acting, session: &str) -> Result<TestCheckout, AppError> {
    let row: Option<(String, String, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "select t.name, p.name, p.price_inr, c.completed_at
         from checkout_sessions c join teams t on t.id = c.team_id join plans p on p.id = c.plan
         where c.id = $1 and c.team_id = $2",
    )
    .bind(session)
    .bind(acting.team_id)
    .fetch_optional(&state.db)
    .await
    .or_internal("reading a checkout failed")?;
    let (team_name, plan_name, price_inr, completed_at) = row.ok_or(AppError::NotFound)?;
    Ok(TestCheckout {
        session_id: session.to_string(),
        team_name,
        plan_name,
        price_inr,
        completed: completed_at.is_some(),
    })
}

/// Pays test mode's checkout `session` with `card`: Stripe's succeeding test card
/// delivers the events of a paid checkout to our webhook; its declined card (or any
/// other number) changes nothing and says why.
pub async fn pay_test_checkout(state: &AppState, acting: &Acting, session: &str, card: &str) -> Result<(), AppError> {
    if !state.settings.stripe.test_mode() {
        return Err(AppError::NotFound);
    }
    let card: String = card.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let row: Option<(String, i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "select c.plan, p.price_inr, c.completed_at from checkout_sessions c join plans p on p.id = c.plan
         where c.id = $1 and c.team_id = $2",
    )
    .bind(session)
    .bind(acting.team_id)
    .fetch_optional(&state.db)
    .await
    .or_internal("paying a checkout failed")?;
    let (plan, price_inr, completed_at) = row.ok_or(AppError::NotFound)?;
    if completed_at.is_some() {
        return Err(AppError::Conflict("This checkout is paid already.".into()));
    }
    match card.as_str() {
        CARD_SUCCEEDS => {}
        CARD_DECLINED => return Err(AppError::field("card", "Your card was declined.")),
        _ => {
            return Err(AppError::field(
                "card",
                "Test mode takes Stripe's test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined.",
            ));
        }
    }
    let price = state.settings.stripe.price_of(&plan).unwrap_or_default().to_string();
    let subscription = SimulatedSubscription::new(acting.team_id, &plan, &price, Utc::now());
    deliver_simulated(state, &simulated::checkout_events(session, &subscription, i64::from(price_inr), Utc::now()))
        .await
}

/// Delivers test mode's `events` to our own webhook, signed with its secret; anything
/// but 200 is an error.
async fn deliver_simulated(state: &AppState, events: &[serde_json::Value]) -> Result<(), AppError> {
    let secret = webhook_secrets(&state.settings.stripe, &state.cipher).remove(0);
    for event in events {
        let status = simulated::deliver(&state.self_url, &secret, event)
            .await
            .or_internal("delivering test mode's payment events failed")?;
        if status != 200 {
            return Err(AppError::internal(
                "delivering test mode's payment events failed",
                &std::io::Error::other(format!("the webhook answered {status}")),
            ));
        }
    }
    Ok(())
}

/// Ends the member's team's subscription at the end of its period (test mode: as the
/// customer portal would, through a signed `customer.subscription.updated`; PhonePe:
/// the paid month is simply not renewed).
pub async fn cancel_at_period_end(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    if plan_and_provider(state, acting.team_id).await?.1 == PaymentProvider::Phonepe {
        return super::phonepe::cancel_at_period_end(state, acting).await;
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        stripe_subscription_id: Option<String>,
        stripe_customer_id: Option<String>,
        plan: String,
        period_start: Option<DateTime<Utc>>,
        subscription_as_of: Option<DateTime<Utc>>,
    }
    let row: Row = sqlx::query_as(
        "select stripe_subscription_id, stripe_customer_id, plan, period_start, subscription_as_of
         from teams where id = $1",
    )
    .bind(acting.team_id)
    .fetch_one(&state.db)
    .await
    .or_internal("cancelling failed")?;
    let Row {
        stripe_subscription_id: Some(subscription_id),
        stripe_customer_id: Some(customer),
        plan,
        period_start,
        subscription_as_of: as_of,
    } = row
    else {
        return Err(AppError::Conflict("The team has no subscription to cancel.".into()));
    };
    if plan == "free" {
        return Err(AppError::Conflict("The team has no subscription to cancel.".into()));
    }
    if !state.settings.stripe.test_mode() {
        let client = stripe_api::client(&state.settings.stripe)?;
        stripe_api::cancel_at_period_end(&client, &subscription_id).await?;
        return acting.audit(&state.db, "billing.cancel_requested", None, serde_json::json!({})).await;
    }
    let price = state.settings.stripe.price_of(&plan).unwrap_or_default().to_string();
    let subscription = SimulatedSubscription {
        id: subscription_id,
        customer,
        team: acting.team_id,
        plan,
        price,
        status: "active".into(),
        period_start: period_start.unwrap_or_else(Utc::now),
        cancel_at_period_end: true,
    };
    // Stripe's event times are whole seconds: a cancellation in the same second as the
    // checkout is dated a second after it, as it would be at Stripe.
    let at = as_of.map_or_else(Utc::now, |as_of| Utc::now().max(as_of + Duration::seconds(1)));
    deliver_simulated(state, &[simulated::event("customer.subscription.updated", subscription.object(), at)]).await?;
    acting.audit(&state.db, "billing.cancel_requested", None, serde_json::json!({})).await
}

/// Stripe's customer portal for the member's team (card, invoices, cancellation), coming
/// back to `return_base`; where to send the browser.
pub async fn portal(state: &AppState, acting: &Acting, return_base: &str) -> Result<String, AppError> {
    if state.settings.stripe.test_mode() {
        return Err(AppError::Conflict(
            "Test mode has no Stripe customer portal: cancel below, and pay with a test card again to resume.".into(),
        ));
    }
    let customer: Option<String> = sqlx::query_scalar("select stripe_customer_id from teams where id = $1")
        .bind(acting.team_id)
        .fetch_one(&state.db)
        .await
        .or_internal("opening the billing portal failed")?;
    let customer = customer.ok_or_else(|| AppError::Conflict("The team has not paid through Stripe yet.".into()))?;
    if plan_and_provider(state, acting.team_id).await?.1 != PaymentProvider::Stripe {
        return Err(AppError::Conflict("The team pays through PhonePe: Stripe's portal has nothing of it.".into()));
    }
    let client = stripe_api::client(&state.settings.stripe)?;
    let url = stripe_api::portal(&client, &customer, return_base).await?;
    acting.audit(&state.db, "billing.portal_opened", None, serde_json::json!({})).await?;
    Ok(url)
}

/// Where Stripe sends people back to: `PUBLIC_URL`, else `host`, the address the request
/// came to.
pub fn return_base(state: &AppState, host: Option<&str>) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.clone();
    }
    let scheme = if state.settings.sessions.secure_cookies { "https" } else { "http" };
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => state.self_url.clone(),
    }
}

/// The member's team's billing page.
pub async fn view(state: &AppState, acting: &Acting) -> Result<BillingView, AppError> {
    let team = acting.team_id;
    #[derive(sqlx::FromRow)]
    struct Row {
        plan: String,
        plan_name: String,
        subscription_status: Option<String>,
        period_start: Option<DateTime<Utc>>,
        period_end: Option<DateTime<Utc>>,
        cancel_at_period_end: bool,
        past_due_since: Option<DateTime<Utc>>,
        payment_provider: String,
    }
    let row: Row = sqlx::query_as(
        "select t.plan, p.name as plan_name, t.subscription_status, t.period_start, t.period_end,
                t.cancel_at_period_end, t.past_due_since, t.payment_provider
         from teams t join plans p on p.id = t.plan where t.id = $1",
    )
    .bind(team)
    .fetch_one(&state.db)
    .await
    .or_internal("reading billing failed")?;
    let payments: Vec<(String, String, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
        "select id, type, created, payload from stripe_events
         where team_id = $1 and type in ('invoice.paid', 'invoice.payment_failed')
         order by created desc, received_at desc limit 50",
    )
    .bind(team)
    .fetch_all(&state.db)
    .await
    .or_internal("reading billing failed")?;
    let payments = payments
        .into_iter()
        .map(|(event_id, kind, at, payload)| {
            let invoice: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
            let object = &invoice["data"]["object"];
            let paid = kind == "invoice.paid";
            let cents = if paid { object["amount_paid"].as_i64() } else { object["amount_due"].as_i64() };
            let amount = cents.map(|cents| {
                let currency = object["currency"].as_str().unwrap_or("").to_ascii_uppercase();
                format!("{currency} {}.{:02}", cents / 100, cents % 100)
            });
            PaymentRecord { at, paid, amount, event_id, provider: PaymentProvider::Stripe }
        })
        .collect::<Vec<_>>();
    let in_rupees: Vec<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "select id, state, settled_at, amount_paise from phonepe_payments
         where team_id = $1 and state in ('completed', 'failed') and settled_at is not null
         order by settled_at desc limit 50",
    )
    .bind(team)
    .fetch_all(&state.db)
    .await
    .or_internal("reading billing failed")?;
    let mut payments = payments;
    payments.extend(in_rupees.into_iter().map(|(id, state, at, paise)| PaymentRecord {
        at,
        paid: state == "completed",
        amount: Some(format!("INR {}.{:02}", paise / 100, paise % 100)),
        event_id: id,
        provider: PaymentProvider::Phonepe,
    }));
    payments.sort_by_key(|payment| std::cmp::Reverse(payment.at));
    payments.truncate(50);
    let provider = effective(state, row.payment_provider.parse().unwrap_or_default());
    let grace_ends = row.past_due_since.map(|since| since + Duration::days(GRACE_DAYS));
    Ok(BillingView {
        plan: row.plan,
        plan_name: row.plan_name,
        status: row.subscription_status,
        period_start: row.period_start,
        period_end: row.period_end,
        cancel_at_period_end: row.cancel_at_period_end,
        grace_ends,
        grace_over: grace_ends.is_some_and(|ends| ends <= Utc::now()),
        test_mode: state.settings.stripe.test_mode(),
        provider,
        providers: providers(state),
        renews_by_hand: provider == PaymentProvider::Phonepe,
        payments,
    })
}
