//! Test mode's PhonePe: a stand-in for PhonePe's pay request, pay page and status
//! check, served by DreamOps itself under [`PREFIX`]. It checks and makes every
//! checksum as PhonePe does, so test mode goes through the same client, callback
//! verification and status check as real payments. No money moves.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{self, Merchant, PayRequest};
use super::checksum;
use crate::error::{AppError, OrInternal};
use crate::server::state::AppState;

/// Where the simulated PhonePe is served.
pub const PREFIX: &str = "/phonepe-sandbox";

/// The simulated merchant's id.
pub const MERCHANT_ID: &str = "DREAMOPSTEST";

/// The merchant test mode pays as: its salt key derived from the server's key (the same
/// at every instance), its API this instance.
pub fn merchant(state: &AppState) -> Merchant {
    Merchant {
        id: MERCHANT_ID.into(),
        salt_key: state.cipher.derive("phonepe sandbox salt key"),
        salt_index: 1,
        api_base: format!("{}{PREFIX}", state.self_url),
    }
}

/// Whether this instance serves the simulated PhonePe (test mode, no merchant configured).
pub fn serves(state: &AppState) -> bool {
    state.settings.stripe.test_mode() && !state.settings.phonepe.configured()
}

/// An answer of the simulated API: its HTTP status and PhonePe's JSON.
pub type Answered = (u16, Value);

fn refused(status: u16, code: &str, message: &str) -> Answered {
    (status, json!({ "success": false, "code": code, "message": message, "data": {} }))
}

#[derive(Deserialize)]
struct PayBody {
    request: String,
}

/// `POST /pg/v1/pay`: a payment on the pay page, if the checksum and request are valid.
pub async fn pay(state: &AppState, x_verify: Option<&str>, body: &[u8]) -> Answered {
    let merchant = merchant(state);
    let Ok(PayBody { request }) = serde_json::from_slice(body) else {
        return refused(400, "BAD_REQUEST", "The body must be {\"request\": <base64 payload>}.");
    };
    if checksum::verify(x_verify, &request, api::PAY, &merchant.salt_key, merchant.salt_index).is_err() {
        return refused(401, "AUTHORIZATION_FAILED", "The X-VERIFY checksum does not match.");
    }
    let Ok(pay) = api::decode::<PayRequest>(&request) else {
        return refused(400, "BAD_REQUEST", "The payload is not a pay request.");
    };
    let valid_id = (1..=35).contains(&pay.merchant_transaction_id.len())
        && pay.merchant_transaction_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let web =
        |url: &str| (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(char::is_whitespace);
    if pay.merchant_id != merchant.id
        || !valid_id
        || pay.amount < 100
        || !web(&pay.redirect_url)
        || !web(&pay.callback_url)
        || pay.payment_instrument.kind != "PAY_PAGE"
    {
        return refused(400, "BAD_REQUEST", "The pay request is not valid.");
    }
    let transaction = format!("T{}", uuid::Uuid::new_v4().simple().to_string()[..20].to_ascii_uppercase());
    let stored = sqlx::query(
        "insert into phonepe_sandbox_payments
             (merchant_transaction_id, merchant_id, transaction_id, amount_paise, redirect_url, callback_url)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
    )
    .bind(&pay.merchant_transaction_id)
    .bind(&pay.merchant_id)
    .bind(&transaction)
    .bind(pay.amount)
    .bind(&pay.redirect_url)
    .bind(&pay.callback_url)
    .execute(&state.db)
    .await;
    match stored {
        Ok(done) if done.rows_affected() == 1 => {}
        Ok(_) => return refused(400, "DUPLICATE_TRANSACTION", "This merchantTransactionId was used before."),
        Err(error) => {
            tracing::error!(%error, "the PhonePe sandbox could not store a payment");
            return refused(500, "INTERNAL_SERVER_ERROR", "Try again later.");
        }
    }
    // The pay page, on the site the browser comes back to.
    let site = origin(&pay.redirect_url);
    let page = format!("{site}{PREFIX}/pay/{}", pay.merchant_transaction_id);
    (
        200,
        json!({
            "success": true, "code": "PAYMENT_INITIATED", "message": "Payment initiated",
            "data": {
                "merchantId": pay.merchant_id, "merchantTransactionId": pay.merchant_transaction_id,
                "instrumentResponse": { "type": "PAY_PAGE", "redirectInfo": { "url": page, "method": "GET" } }
            }
        }),
    )
}

/// The scheme, host and port of `url` (`https://host:port`).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    url[after_scheme..].find('/').map_or(url, |at| &url[..after_scheme + at])
}

/// A payment as the simulated PhonePe keeps it.
#[derive(sqlx::FromRow)]
pub struct Payment {
    pub merchant_transaction_id: String,
    pub merchant_id: String,
    pub transaction_id: String,
    pub amount_paise: i64,
    pub redirect_url: String,
    pub callback_url: String,
    /// `PENDING`, `COMPLETED` or `FAILED`.
    pub state: String,
}

async fn payment(state: &AppState, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    sqlx::query_as(
        "select merchant_transaction_id, merchant_id, transaction_id, amount_paise, redirect_url, callback_url, state
         from phonepe_sandbox_payments where merchant_transaction_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db)
    .await
}

/// PhonePe's answer describing `payment`, as its status API and callback give it.
fn described(payment: &Payment) -> Value {
    let (success, code, message, response_code) = match payment.state.as_str() {
        "COMPLETED" => (true, "PAYMENT_SUCCESS", "Your payment is successful.", "SUCCESS"),
        "FAILED" => (false, "PAYMENT_ERROR", "Payment Failed", "PAYMENT_DECLINED"),
        _ => (false, "PAYMENT_PENDING", "Your payment is in progress.", "PENDING"),
    };
    json!({
        "success": success, "code": code, "message": message,
        "data": {
            "merchantId": payment.merchant_id, "merchantTransactionId": payment.merchant_transaction_id,
            "transactionId": payment.transaction_id, "amount": payment.amount_paise, "state": payment.state,
            "responseCode": response_code,
            "paymentInstrument": if payment.state == "COMPLETED" {
                json!({ "type": "UPI", "utr": format!("{}", Utc::now().timestamp_millis()) })
            } else {
                Value::Null
            }
        }
    })
}

/// `GET /pg/v1/status/{merchant}/{transaction}`: where a payment stands, if the
/// checksum of the path and the `X-MERCHANT-ID` header are right.
pub async fn status(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    x_verify: Option<&str>,
    x_merchant_id: Option<&str>,
) -> Answered {
    let merchant = merchant(state);
    let endpoint = api::status_endpoint(merchant_id, id);
    if checksum::verify(x_verify, "", &endpoint, &merchant.salt_key, merchant.salt_index).is_err()
        || merchant_id != merchant.id
        || x_merchant_id != Some(merchant.id.as_str())
    {
        return refused(401, "AUTHORIZATION_FAILED", "The X-VERIFY checksum or the merchant does not match.");
    }
    match payment(state, id).await {
        Ok(Some(payment)) => (200, described(&payment)),
        Ok(None) => refused(400, "TRANSACTION_NOT_FOUND", "No transaction with this id."),
        Err(error) => {
            tracing::error!(%error, "the PhonePe sandbox could not read a payment");
            refused(500, "INTERNAL_SERVER_ERROR", "Try again later.")
        }
    }
}

/// The pay page's payment, if the simulated PhonePe knows it.
pub async fn page(state: &AppState, id: &str) -> Result<Option<Payment>, AppError> {
    payment(state, id).await.or_internal("reading a test payment failed")
}

/// The customer paid (or declined) on the pay page: the payment is decided, PhonePe's
/// signed callback is posted to the merchant's callback address, and the browser is
/// sent back to the merchant; where to.
pub async fn decide(state: &AppState, id: &str, paid: bool) -> Result<String, AppError> {
    let decided: Option<String> = sqlx::query_scalar(
        "update phonepe_sandbox_payments set state = $2 where merchant_transaction_id = $1 and state = 'PENDING'
         returning merchant_transaction_id",
    )
    .bind(id)
    .bind(if paid { "COMPLETED" } else { "FAILED" })
    .fetch_optional(&state.db)
    .await
    .or_internal("deciding a test payment failed")?;
    let payment = payment(state, id).await.or_internal("deciding a test payment failed")?.ok_or(AppError::NotFound)?;
    if decided.is_some() {
        let merchant = merchant(state);
        let response = api::encode(&described(&payment));
        let sent = super::CLIENT
            .post(&payment.callback_url)
            .header("content-type", "application/json")
            .header("x-verify", checksum::x_verify(&response, "", &merchant.salt_key, merchant.salt_index))
            .json(&json!({ "response": response }))
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {}
            // The browser's return asks the status API, as with PhonePe when a callback
            // is lost.
            Ok(answer) => tracing::warn!(status = %answer.status(), "the test payment's callback was not accepted"),
            Err(error) => tracing::warn!(%error, "the test payment's callback could not be delivered"),
        }
    }
    Ok(payment.redirect_url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pay_page_is_on_the_site_the_browser_returns_to() {
        assert_eq!(super::origin("https://dreamops.example/billing/phonepe/return/DO1"), "https://dreamops.example");
        assert_eq!(super::origin("http://127.0.0.1:3000/x"), "http://127.0.0.1:3000");
        assert_eq!(super::origin("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
    }
}
