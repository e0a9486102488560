//! PhonePe's payment gateway API as DreamOps calls it: the pay request (a payment on
//! PhonePe's pay page, where the browser is sent) and the status check, both signed
//! with `X-VERIFY`; and the answer shape they share with the server-to-server callback.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::checksum;

/// The pay request's endpoint.
pub const PAY: &str = "/pg/v1/pay";

/// The status check's endpoint for a transaction.
pub fn status_endpoint(merchant_id: &str, merchant_transaction_id: &str) -> String {
    format!("/pg/v1/status/{merchant_id}/{merchant_transaction_id}")
}

/// A merchant account: who DreamOps is to PhonePe, and where PhonePe is.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub id: String,
    pub salt_key: String,
    pub salt_index: u32,
    /// PhonePe's API host, without a trailing slash.
    pub api_base: String,
}

/// The pay request's payload (before base64), in PhonePe's field names.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    pub merchant_id: String,
    pub merchant_transaction_id: String,
    pub merchant_user_id: String,
    /// In paise.
    pub amount: i64,
    /// Where PhonePe sends the browser back to.
    pub redirect_url: String,
    /// `REDIRECT`: the browser comes back with a GET.
    pub redirect_mode: String,
    /// Where PhonePe posts the server-to-server callback.
    pub callback_url: String,
    pub payment_instrument: PaymentInstrument,
}

/// How the customer pays: on PhonePe's pay page (`PAY_PAGE`), which offers UPI, cards
/// and net banking.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentInstrument {
    #[serde(rename = "type")]
    pub kind: String,
}

/// What PhonePe answers (the pay request, the status check) and what its callback's
/// `response` decodes to.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    pub success: bool,
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub data: Option<Transaction>,
}

/// A transaction as PhonePe describes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(default)]
    pub merchant_id: Option<String>,
    #[serde(default)]
    pub merchant_transaction_id: Option<String>,
    /// PhonePe's own id of the transaction.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// In paise.
    #[serde(default)]
    pub amount: Option<i64>,
    /// `PENDING`, `COMPLETED` or `FAILED`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub response_code: Option<String>,
    /// The pay request's answer: where to send the browser.
    #[serde(default)]
    pub instrument_response: Option<serde_json::Value>,
}

/// Where a payment stands, by PhonePe's status answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Paid: PhonePe's transaction id and the amount in paise, for the merchant and
    /// transaction the answer names.
    Completed { transaction_id: String, amount: i64, merchant_id: String, merchant_transaction_id: String },
    /// Not paid, for good: PhonePe's code.
    Failed { code: String },
    /// Not decided yet: ask again later.
    Pending,
}

impl Answer {
    /// Where the payment stands. Success needs both PhonePe's code and the
    /// transaction's state to say so, with every field that identifies it.
    pub fn status(&self) -> Status {
        let data = self.data.clone().unwrap_or_default();
        let state = data.state.as_deref();
        match self.code.as_str() {
            "PAYMENT_SUCCESS" if self.success && state == Some("COMPLETED") => {
                match (data.transaction_id, data.amount, data.merchant_id, data.merchant_transaction_id) {
                    (Some(transaction_id), Some(amount), Some(merchant_id), Some(merchant_transaction_id)) => {
                        Status::Completed { transaction_id, amount, merchant_id, merchant_transaction_id }
                    }
                    _ => Status::Failed { code: "INCOMPLETE_ANSWER".into() },
                }
            }
            "PAYMENT_PENDING" | "INTERNAL_SERVER_ERROR" => Status::Pending,
            _ if state == Some("PENDING") => Status::Pending,
            code => Status::Failed { code: code.to_string() },
        }
    }
}

/// A call to PhonePe that did not give an answer to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// PhonePe could not be reached, or asked to come back later (HTTP 429 or 5xx).
    #[error("PhonePe could not be reached or is busy ({0}); try again in a minute")]
    Unavailable(String),
    /// PhonePe refused the request: its code and message.
    #[error("PhonePe refused the request: {0}")]
    Refused(String),
}

/// The base64 of `payload`'s JSON, as requests carry it.
pub fn encode<T: Serialize>(payload: &T) -> String {
    BASE64.encode(serde_json::to_vec(payload).expect("JSON serializes"))
}

/// The JSON `encoded` (base64) holds.
pub fn decode<T: for<'de> Deserialize<'de>>(encoded: &str) -> Result<T, String> {
    let bytes = BASE64.decode(encoded.trim()).map_err(|error| format!("the payload is not base64: {error}"))?;
    serde_json::from_slice(&bytes).map_err(|error| format!("the payload is not PhonePe's JSON: {error}"))
}

/// Asks PhonePe for a payment of `request`; the pay page's address to send the browser to.
pub async fn pay(client: &reqwest::Client, merchant: &Merchant, request: &PayRequest) -> Result<String, Failure> {
    let payload = encode(request);
    let response = client
        .post(format!("{}{PAY}", merchant.api_base))
        .header("content-type", "application/json")
        .header("x-verify", checksum::x_verify(&payload, PAY, &merchant.salt_key, merchant.salt_index))
        .json(&serde_json::json!({ "request": payload }))
        .send()
        .await;
    let answer = read(response).await?;
    let url = answer
        .data
        .as_ref()
        .and_then(|data| data.instrument_response.as_ref())
        .and_then(|instrument| instrument.pointer("/redirectInfo/url"))
        .and_then(|url| url.as_str())
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"));
    match url {
        Some(url) if answer.success => Ok(url.to_string()),
        _ => Err(Failure::Refused(refusal(&answer))),
    }
}

/// Asks PhonePe where the payment `merchant_transaction_id` stands.
pub async fn status(
    client: &reqwest::Client,
    merchant: &Merchant,
    merchant_transaction_id: &str,
) -> Result<Answer, Failure> {
    let endpoint = status_endpoint(&merchant.id, merchant_transaction_id);
    let response = client
        .get(format!("{}{endpoint}", merchant.api_base))
        .header("content-type", "application/json")
        .header("x-verify", checksum::x_verify("", &endpoint, &merchant.salt_key, merchant.salt_index))
        .header("x-merchant-id", &merchant.id)
        .send()
        .await;
    read(response).await
}

/// PhonePe's answer, or why there is none. PhonePe answers refusals (a 400 for an
/// unknown transaction, say) in its JSON shape too; 429 and 5xx mean "later".
async fn read(response: Result<reqwest::Response, reqwest::Error>) -> Result<Answer, Failure> {
    let response = response.map_err(|error| {
        Failure::Unavailable(if error.is_timeout() {
            "it did not answer in time".into()
        } else {
            "no connection".into()
        })
    })?;
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(Failure::Unavailable(format!("HTTP {}", status.as_u16())));
    }
    let body = response.bytes().await.map_err(|_| Failure::Unavailable("the answer was cut short".into()))?;
    serde_json::from_slice::<Answer>(&body)
        .map_err(|_| Failure::Refused(format!("HTTP {} with an answer that is not PhonePe's JSON", status.as_u16())))
}

/// PhonePe's refusal in words: its code, and its message when it gave one.
fn refusal(answer: &Answer) -> String {
    match &answer.message {
        Some(message) if !message.is_empty() => format!("{} ({message})", answer.code),
        _ => answer.code.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: &str, success: bool, state: Option<&str>) -> Answer {
        Answer {
            success,
            code: code.into(),
            message: None,
            data: Some(Transaction {
                merchant_id: Some("M1".into()),
                merchant_transaction_id: Some("T1".into()),
                transaction_id: Some("P1".into()),
                amount: Some(99_900),
                state: state.map(str::to_string),
                ..Transaction::default()
            }),
        }
    }

    #[test]
    fn only_a_successful_completed_answer_is_a_payment() {
        assert_eq!(
            answer("PAYMENT_SUCCESS", true, Some("COMPLETED")).status(),
            Status::Completed {
                transaction_id: "P1".into(),
                amount: 99_900,
                merchant_id: "M1".into(),
                merchant_transaction_id: "T1".into()
            }
        );
        assert_eq!(
            answer("PAYMENT_SUCCESS", false, Some("COMPLETED")).status(),
            Status::Failed { code: "PAYMENT_SUCCESS".into() }
        );
        assert_eq!(answer("PAYMENT_SUCCESS", true, Some("PENDING")).status(), Status::Pending);
        assert_eq!(answer("PAYMENT_PENDING", true, Some("PENDING")).status(), Status::Pending);
        assert_eq!(answer("INTERNAL_SERVER_ERROR", false, None).status(), Status::Pending);
        assert_eq!(
            answer("PAYMENT_ERROR", false, Some("FAILED")).status(),
            Status::Failed { code: "PAYMENT_ERROR".into() }
        );
        assert_eq!(
            answer("TRANSACTION_NOT_FOUND", false, None).status(),
            Status::Failed { code: "TRANSACTION_NOT_FOUND".into() }
        );
        let mut partial = answer("PAYMENT_SUCCESS", true, Some("COMPLETED"));
        partial.data.as_mut().unwrap().amount = None;
        assert_eq!(partial.status(), Status::Failed { code: "INCOMPLETE_ANSWER".into() });
    }

    #[test]
    fn payloads_go_as_base64_json_and_come_back_the_same() {
        let request = PayRequest {
            merchant_id: "M1".into(),
            merchant_transaction_id: "T1".into(),
            merchant_user_id: "U1".into(),
            amount: 100,
            redirect_url: "https://dreamops.example/r".into(),
            redirect_mode: "REDIRECT".into(),
            callback_url: "https://dreamops.example/c".into(),
            payment_instrument: PaymentInstrument { kind: "PAY_PAGE".into() },
        };
        let encoded = encode(&request);
        let json: serde_json::Value = decode(&encoded).unwrap();
        assert_eq!(json["merchantTransactionId"], "T1");
        assert_eq!(json["paymentInstrument"]["type"], "PAY_PAGE");
        assert!(decode::<Answer>("not base64!").is_err());
    }
}
