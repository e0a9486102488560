//! PhonePe, the payment provider for teams paying in rupees. A payment is a month of a
//! plan: DreamOps asks PhonePe for it ([`start`]), the browser pays on PhonePe's page,
//! and PhonePe tells us by a signed server-to-server callback ([`callback`]) and by
//! sending the browser back ([`returned`]). Neither is believed: either only makes
//! DreamOps ask PhonePe's status API ([`settle`]), and only its "completed", for the
//! merchant, transaction and amount DreamOps asked for, grants the month — once, however
//! often and however concurrently it is told, because the payment leaves `pending` in
//! the transaction that grants it.
//!
//! PhonePe's gateway has no card-style subscription for this flow, so renewal is by
//! hand: owners are mailed three days before the month ends ([`tend`]); a month that
//! ends unpaid makes the team past due, and after the grace period it is on Free, as
//! with Stripe.

pub mod api;
pub mod checksum;
pub mod sandbox;

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::api::{Failure, Merchant, PayRequest, PaymentInstrument, Status};
use crate::error::{AppError, OrInternal};
use crate::server::audit::{self, Acting, Actor};
use crate::server::config::PhonePeSettings;
use crate::server::mail::{self, Mail, letters};
use crate::server::state::AppState;

/// The provider, as the audit trail names it.
pub const PROVIDER: &str = "PhonePe";

/// Days before a month ends that owners are reminded to renew.
pub const REMIND_DAYS: i64 = 3;

/// How long a payment may stay pending before PhonePe is asked about it unprompted,
/// and after how long an unanswered one is given up.
const ASK_AFTER: Duration = Duration::from_secs(120);
const GIVE_UP_AFTER_DAYS: i32 = 2;

/// One client for PhonePe's API: bounded in time, no redirects, no proxy.
static CLIENT: LazyLock<reqwest::Client> =
    LazyLock::new(|| crate::server::egress::provider_client(Duration::from_secs(15)));

/// The merchant this deployment takes PhonePe payments as: the configured account, or
/// in test mode the simulated PhonePe this instance serves; `None` when PhonePe is not
/// offered.
pub fn merchant(state: &AppState) -> Option<Merchant> {
    let PhonePeSettings { merchant_id, salt_key, salt_index, api_base } = &state.settings.phonepe;
    match (merchant_id, salt_key) {
        (Some(id), Some(key)) => Some(Merchant {
            id: id.clone(),
            salt_key: key.expose_secret().to_string(),
            salt_index: *salt_index,
            api_base: api_base.clone().unwrap_or_else(|| PhonePeSettings::PRODUCTION.to_string()),
        }),
        _ if state.settings.stripe.test_mode() => Some(sandbox::merchant(state)),
        _ => None,
    }
}

/// Asks PhonePe for a month of `plan` for the member's team (`current` is its plan now:
/// paying for it again renews it); where to send the browser.
pub async fn start(
    state: &AppState,
    acting: &Acting,
    plan: &str,
    current: &str,
    return_base: &str,
) -> Result<String, AppError> {
    let merchant =
        merchant(state).ok_or_else(|| AppError::Conflict("PhonePe is not offered on this deployment.".into()))?;
    let member = acting.member()?;
    let price_inr: Option<i32> = sqlx::query_scalar("select price_inr from plans where id = $1 and price_inr > 0")
        .bind(plan)
        .fetch_optional(&state.db)
        .await
        .or_internal("opening a PhonePe payment failed")?;
    let Some(price_inr) = price_inr else {
        return Err(AppError::field("plan", "Choose Starter, Pro or Enterprise."));
    };
    let id = format!("DO{}", Uuid::new_v4().simple());
    let amount = i64::from(price_inr) * 100;
    sqlx::query(
        "insert into phonepe_payments (id, team_id, plan, amount_paise, created_by) values ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(acting.team_id)
    .bind(plan)
    .bind(amount)
    .bind(member.user_id)
    .execute(&state.db)
    .await
    .or_internal("opening a PhonePe payment failed")?;
    let request = PayRequest {
        merchant_id: merchant.id.clone(),
        merchant_transaction_id: id.clone(),
        merchant_user_id: format!("U{}", member.user_id.simple()),
        amount,
        redirect_url: format!("{return_base}/billing/phonepe/return/{id}"),
        redirect_mode: "REDIRECT".into(),
        callback_url: format!("{return_base}/webhooks/phonepe"),
        payment_instrument: PaymentInstrument { kind: "PAY_PAGE".into() },
    };
    match api::pay(&CLIENT, &merchant, &request).await {
        Ok(url) => {
            let renewal = current == plan;
            let details = serde_json::json!({ "plan": plan, "provider": "phonepe", "renewal": renewal });
            acting.audit(&state.db, "billing.checkout_started", Some(&id), details).await?;
            Ok(url)
        }
        Err(failure) => {
            tracing::warn!(payment = %id, %failure, "PhonePe did not open a payment");
            let code = match &failure {
                Failure::Unavailable(_) => "UNAVAILABLE",
                Failure::Refused(_) => "PAY_REQUEST_REFUSED",
            };
            sqlx::query(
                "update phonepe_payments set state = 'failed', response_code = $2, settled_at = now() where id = $1",
            )
            .bind(&id)
            .bind(code)
            .execute(&state.db)
            .await
            .or_internal("opening a PhonePe payment failed")?;
            Err(AppError::Conflict(failure.to_string()))
        }
    }
}

/// What became of a payment DreamOps was told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// PhonePe says it completed: the team got its month now.
    Granted,
    /// PhonePe says it failed.
    Failed,
    /// PhonePe has not decided yet.
    Pending,
    /// Settled before (`completed` or `failed`): nothing done again.
    Already(String),
    /// Not a payment DreamOps asked for.
    Unknown,
}

/// Asks PhonePe where payment `id` stands and acts on its answer: a completed payment
/// for the merchant, transaction and amount DreamOps asked for grants the month, once.
pub async fn settle(state: &AppState, id: &str) -> Result<Settled, SettleError> {
    let row: Option<(Uuid, String, i64, String)> =
        sqlx::query_as("select team_id, plan, amount_paise, state from phonepe_payments where id = $1")
            .bind(id)
            .fetch_optional(&state.db)
            .await?;
    let Some((team, plan, amount, stored)) = row else {
        return Ok(Settled::Unknown);
    };
    if stored != "pending" {
        return Ok(Settled::Already(stored));
    }
    let merchant = merchant(state).ok_or(SettleError::NotOffered)?;
    let answer = api::status(&CLIENT, &merchant, id).await.map_err(SettleError::PhonePe)?;
    let mut tx = state.db.begin().await?;
    let settled = match answer.status() {
        Status::Pending => return Ok(Settled::Pending),
        Status::Completed { transaction_id, amount: paid, merchant_id, merchant_transaction_id }
            if paid == amount && merchant_id == merchant.id && merchant_transaction_id == id =>
        {
            if !close(&mut tx, id, "completed", "SUCCESS", Some(&transaction_id)).await? {
                return already(&mut tx, id).await;
            }
            grant(&mut tx, team, &plan).await?;
            let details = serde_json::json!({ "plan": plan, "amount_paise": amount, "transaction": transaction_id });
            record(&mut tx, team, "billing.phonepe.payment_completed", id, details).await?;
            Settled::Granted
        }
        Status::Completed { amount: paid, merchant_id, merchant_transaction_id, .. } => {
            tracing::error!(
                payment = %id, paid, expected = amount, %merchant_id, %merchant_transaction_id,
                "PhonePe's status names another amount, merchant or transaction; nothing granted"
            );
            if !close(&mut tx, id, "failed", "MISMATCH", None).await? {
                return already(&mut tx, id).await;
            }
            let details = serde_json::json!({ "plan": plan, "code": "MISMATCH" });
            record(&mut tx, team, "billing.phonepe.payment_failed", id, details).await?;
            Settled::Failed
        }
        Status::Failed { code } => {
            if !close(&mut tx, id, "failed", &code, None).await? {
                return already(&mut tx, id).await;
            }
            let details = serde_json::json!({ "plan": plan, "code": code });
            record(&mut tx, team, "billing.phonepe.payment_failed", id, details).await?;
            Settled::Failed
        }
    };
    tx.commit().await?;
    Ok(settled)
}

/// Why a payment could not be settled now (it stays pending, to be asked about again).
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("PhonePe is not offered on this deployment")]
    NotOffered,
    #[error(transparent)]
    PhonePe(Failure),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Moves a pending payment to `state`; false when it was settled already (by another
/// callback, return or instance).
async fn close(
    tx: &mut PgConnection,
    id: &str,
    state: &str,
    code: &str,
    transaction: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let closed = sqlx::query(
        "update phonepe_payments set state = $2, response_code = $3, phonepe_transaction_id = $4, settled_at = now()
         where id = $1 and state = 'pending'",
    )
    .bind(id)
    .bind(state)
    .bind(code)
    .bind(transaction)
    .execute(&mut *tx)
    .await?;
    Ok(closed.rows_affected() == 1)
}

/// A payment settled meanwhile (by another callback, return or instance): as it was.
async fn already(tx: &mut PgConnection, id: &str) -> Result<Settled, SettleError> {
    let state: String =
        sqlx::query_scalar("select state from phonepe_payments where id = $1").bind(id).fetch_one(&mut *tx).await?;
    Ok(Settled::Already(state))
}

/// A paid month of `plan`: the same plan paid while its month runs adds a month after
/// it; anything else starts a month now. Held incidents become eligible at once.
async fn grant(tx: &mut PgConnection, team: Uuid, plan: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update teams set
             period_start = case when plan = $2 and period_end > now() then period_start else now() end,
             period_end = case when plan = $2 and period_end > now() then period_end else now() end
                          + interval '1 month',
             plan = $2, payment_provider = 'phonepe', subscription_status = 'active',
             cancel_at_period_end = false, past_due_since = null, subscription_as_of = now(),
             renewal_reminded_for = null
         where id = $1",
    )
    .bind(team)
    .bind(plan)
    .execute(&mut *tx)
    .await?;
    crate::server::quota::release_held(&mut *tx, team).await?;
    Ok(())
}

async fn record(
    tx: &mut PgConnection,
    team: Uuid,
    action: &str,
    payment: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    audit::record(
        &mut *tx,
        audit::Event {
            team_id: team,
            actor: &Actor::PaymentProvider(PROVIDER),
            action,
            target: Some(payment),
            client_addr: None,
            details,
        },
    )
    .await
}

/// What the callback endpoint answers.
#[derive(Debug)]
pub enum Callback {
    /// Not an authentic callback of our merchant: refused, nothing stored or asked.
    Refused(String),
    /// Authentic: what asking PhonePe's status API did.
    Settled(Settled),
    /// Authentic, but PhonePe's status could not be asked now: PhonePe should retry.
    Later(String),
}

/// The callback's body: PhonePe's answer, base64.
#[derive(Deserialize)]
struct CallbackBody {
    response: String,
}

/// PhonePe's server-to-server callback: `body` must be `{"response": <base64>}` with
/// `x_verify` its checksum under our salt key. Its content is never taken for the
/// payment's outcome: it only names the transaction to ask PhonePe about.
pub async fn callback(state: &AppState, x_verify: Option<&str>, body: &[u8]) -> Callback {
    let Some(merchant) = merchant(state) else {
        return Callback::Refused("PhonePe is not offered on this deployment".into());
    };
    let Ok(CallbackBody { response }) = serde_json::from_slice(body) else {
        return Callback::Refused("the body is not PhonePe's callback ({\"response\": <base64>})".into());
    };
    if let Err(refused) = checksum::verify(x_verify, &response, "", &merchant.salt_key, merchant.salt_index) {
        return Callback::Refused(refused.to_string());
    }
    let answer: api::Answer = match api::decode(&response) {
        Ok(answer) => answer,
        Err(error) => return Callback::Refused(error),
    };
    let data = answer.data.unwrap_or_default();
    if data.merchant_id.as_deref() != Some(merchant.id.as_str()) {
        return Callback::Refused("the callback is for another merchant".into());
    }
    let Some(id) = data.merchant_transaction_id else {
        return Callback::Refused("the callback names no transaction".into());
    };
    match settle(state, &id).await {
        Ok(settled) => Callback::Settled(settled),
        Err(error) => {
            tracing::warn!(payment = %id, %error, "a PhonePe callback could not be settled now");
            Callback::Later(error.to_string())
        }
    }
}

/// The browser came back from PhonePe's page for payment `id`: where it stands, as the
/// billing page's `checkout=` says it (`success`, `failed` or `pending`).
pub async fn returned(state: &AppState, id: &str) -> &'static str {
    match settle(state, id).await {
        Ok(Settled::Granted) => "success",
        Ok(Settled::Already(state)) if state == "completed" => "success",
        Ok(Settled::Failed | Settled::Already(_)) => "failed",
        Ok(Settled::Unknown) => "unknown",
        Ok(Settled::Pending) => "pending",
        Err(error) => {
            tracing::warn!(payment = %id, %error, "asking PhonePe about a returning payment failed");
            "pending"
        }
    }
}

/// What one round of [`tend`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tended {
    /// Pending payments PhonePe was asked about.
    pub asked: usize,
    /// Teams whose paid month ended unrenewed.
    pub lapsed: u64,
    /// Teams whose owners were reminded to renew.
    pub reminded: usize,
}

/// The periodic work of PhonePe payments, on every instance (each step is safe to run
/// concurrently): asks PhonePe about payments left pending (no callback, browser never
/// back), gives up on old ones, ends months that were not renewed (past due, or Free
/// when cancelled), and mails owners whose month ends within [`REMIND_DAYS`].
pub async fn tend(state: &AppState) -> Result<Tended, AppError> {
    let mut tended = Tended::default();
    let waiting: Vec<String> = sqlx::query_scalar(
        "select id from phonepe_payments
         where state = 'pending' and created_at < now() - make_interval(secs => $1)
         order by created_at limit 20",
    )
    .bind(ASK_AFTER.as_secs_f64())
    .fetch_all(&state.db)
    .await
    .or_internal("reading pending PhonePe payments failed")?;
    for id in waiting {
        tended.asked += 1;
        if let Err(error) = settle(state, &id).await {
            tracing::warn!(payment = %id, %error, "asking PhonePe about a pending payment failed; asking again later");
        }
    }
    sqlx::query(
        "update phonepe_payments set state = 'failed', response_code = 'EXPIRED', settled_at = now()
         where state = 'pending' and created_at < now() - make_interval(days => $1)",
    )
    .bind(GIVE_UP_AFTER_DAYS)
    .execute(&state.db)
    .await
    .or_internal("expiring PhonePe payments failed")?;
    tended.lapsed = lapse(&state.db).await.or_internal("ending unrenewed PhonePe months failed")?;
    tended.reminded = remind(state).await?;
    Ok(tended)
}

/// Ends PhonePe months that ran out: a cancelled plan goes to Free, an unrenewed one is
/// past due from its end (the grace period then applies, as for a failed card).
async fn lapse(db: &PgPool) -> Result<u64, sqlx::Error> {
    let lapsed = sqlx::query(
        "update teams set
             plan = case when cancel_at_period_end then 'free' else plan end,
             subscription_status = case when cancel_at_period_end then 'canceled' else 'past_due' end,
             past_due_since = case when cancel_at_period_end then null else period_end end,
             period_start = case when cancel_at_period_end then null else period_start end,
             period_end = case when cancel_at_period_end then null else period_end end,
             cancel_at_period_end = false
         where payment_provider = 'phonepe' and plan <> 'free' and period_end < now() and past_due_since is null",
    )
    .execute(db)
    .await?;
    Ok(lapsed.rows_affected())
}

/// Mails the owners of teams whose PhonePe month ends within [`REMIND_DAYS`], once per
/// month (the team's row remembers which end it reminded of).
async fn remind(state: &AppState) -> Result<usize, AppError> {
    let mut tx = state.db.begin().await.or_internal("reminding of renewals failed")?;
    let due: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "with due as (
             update teams set renewal_reminded_for = period_end
             where payment_provider = 'phonepe' and plan <> 'free' and not cancel_at_period_end
               and past_due_since is null
               and period_end between now() and now() + make_interval(days => $1)
               and renewal_reminded_for is distinct from period_end
             returning id, name, plan, period_end
         )
         select due.id, due.name, p.name, due.period_end from due join plans p on p.id = due.plan",
    )
    .bind(REMIND_DAYS as i32)
    .fetch_all(&mut *tx)
    .await
    .or_internal("reminding of renewals failed")?;
    let link = format!("{}/settings/billing", state.public_url());
    for (team, name, plan, ends) in &due {
        let owners: Vec<String> = sqlx::query_scalar(
            "select u.email::text from memberships m join users u on u.id = m.user_id
             where m.team_id = $1 and m.role = 'owner' order by u.email",
        )
        .bind(team)
        .fetch_all(&mut *tx)
        .await
        .or_internal("reminding of renewals failed")?;
        for owner in owners {
            let letter = letters::renewal_due(name, plan, &ends.format("%-d %B %Y").to_string(), &link);
            mail::queue(&mut tx, Mail { to: owner, purpose: "renewal_due", letter })
                .await
                .or_internal("queueing a mail failed")?;
        }
    }
    tx.commit().await.or_internal("reminding of renewals failed")?;
    Ok(due.len())
}

/// Ends a PhonePe plan at its month's end: nothing renews it, so only the team's row
/// changes (the month stays paid).
pub async fn cancel_at_period_end(state: &AppState, acting: &Acting) -> Result<(), AppError> {
    let cancelled = sqlx::query(
        "update teams set cancel_at_period_end = true where id = $1 and plan <> 'free' and period_end is not null",
    )
    .bind(acting.team_id)
    .execute(&state.db)
    .await
    .or_internal("cancelling failed")?;
    if cancelled.rows_affected() == 0 {
        return Err(AppError::Conflict("The team has no paid month to cancel.".into()));
    }
    acting.audit(&state.db, "billing.cancel_requested", None, serde_json::json!({ "provider": "phonepe" })).await
}
