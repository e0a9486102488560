//! PhonePe payments: the requests DreamOps sends PhonePe (asserted against a loopback
//! server that speaks PhonePe's documented JSON and checks its checksums), callbacks
//! forged, tampered, misleading, replayed and concurrent, PhonePe busy or down, test
//! mode's simulated PhonePe, renewal reminders and lapse, and the provider choice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use app::api::billing::{CancelSubscription, GetBilling, SetPaymentProvider, StartCheckout};
use app::domain::billing::PaymentProvider;
use app::error::AppError;

use crate::support::{TestApp, User, join_all};

const MERCHANT: &str = "PGLOOPBACKUAT";
const SALT: &str = "099eb0cd-02cf-4e2a-8aca-3e6c6aff0399";
const INDEX: u32 = 1;

/// PhonePe's checksum, written here from its documentation (not the app's code).
fn x_verify(payload: &str, endpoint: &str, salt: &str, index: u32) -> String {
    format!("{}###{index}", hex::encode(Sha256::digest(format!("{payload}{endpoint}{salt}"))))
}

/// One request the loopback PhonePe received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: axum::http::HeaderMap,
    /// The pay request's decoded payload; `Null` for a status check.
    payload: Value,
    /// Whether its checksum (and merchant header) were right.
    verified: bool,
}

/// What the loopback PhonePe knows and how it behaves.
#[derive(Default)]
struct Phonepe {
    received: Vec<Received>,
    /// Transaction → (amount in paise, state).
    payments: HashMap<String, (i64, String)>,
    /// Answer every call with this status (429, 503) and PhonePe's error JSON.
    down: Option<u16>,
    /// The amount the status check reports instead of the one paid.
    misreported_amount: Option<i64>,
}

type Shared = Arc<Mutex<Phonepe>>;

async fn loopback_phonepe() -> (String, Shared) {
    use axum::extract::{Request, State};
    use axum::response::IntoResponse as _;
    let shared: Shared = Arc::default();
    async fn answer(State(shared): State<Shared>, request: Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let path = parts.uri.path().to_string();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut phonepe = shared.lock().unwrap();
        let (verified, payload) = if parts.method == "POST" && path == "/pg/v1/pay" {
            let request = serde_json::from_slice::<Value>(&body).unwrap_or_default()["request"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let payload: Value =
                serde_json::from_slice(&BASE64.decode(&request).unwrap_or_default()).unwrap_or_default();
            (header("x-verify") == x_verify(&request, "/pg/v1/pay", SALT, INDEX), payload)
        } else {
            (header("x-verify") == x_verify("", &path, SALT, INDEX) && header("x-merchant-id") == MERCHANT, Value::Null)
        };
        let method = parts.method.to_string();
        phonepe.received.push(Received {
            method,
            path: path.clone(),
            headers: parts.headers,
            payload: payload.clone(),
            verified,
        });
        if let Some(status) = phonepe.down {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"success": false, "code": "TOO_MANY_REQUESTS", "message": "Too many requests"})),
            )
                .into_response();
            response.headers_mut().insert("retry-after", "30".parse().unwrap());
            return response;
        }
        if !verified {
            let refusal =
                json!({"success": false, "code": "AUTHORIZATION_FAILED", "message": "Key not found", "data": {}});
            return (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
        }
        if path == "/pg/v1/pay" {
            let id = payload["merchantTransactionId"].as_str().unwrap_or_default().to_string();
            phonepe.payments.insert(id.clone(), (payload["amount"].as_i64().unwrap_or_default(), "PENDING".into()));
            return axum::Json(json!({
                "success": true, "code": "PAYMENT_INITIATED", "message": "Payment initiated",
                "data": {"merchantId": MERCHANT, "merchantTransactionId": id, "instrumentResponse": {
                    "type": "PAY_PAGE",
                    "redirectInfo": {"url": format!("https://mercury-uat.phonepe.com/transact/simulator?token={id}"), "method": "GET"}
                }}
            }))
            .into_response();
        }
        let id = path.rsplit('/').next().unwrap_or_default().to_string();
        let Some((amount, state)) = phonepe.payments.get(&id).cloned() else {
            let unknown =
                json!({"success": false, "code": "TRANSACTION_NOT_FOUND", "message": "No transaction", "data": {}});
            return (StatusCode::BAD_REQUEST, axum::Json(unknown)).into_response();
        };
        let amount = phonepe.misreported_amount.unwrap_or(amount);
        axum::Json(described(&id, amount, &state)).into_response()
    }
    let router = axum::Router::new().fallback(answer).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, shared)
}

/// PhonePe's description of a transaction, as its status API and callback give it.
fn described(id: &str, amount: i64, state: &str) -> Value {
    let (success, code) = match state {
        "COMPLETED" => (true, "PAYMENT_SUCCESS"),
        "FAILED" => (false, "PAYMENT_ERROR"),
        _ => (false, "PAYMENT_PENDING"),
    };
    json!({
        "success": success, "code": code, "message": "",
        "data": {"merchantId": MERCHANT, "merchantTransactionId": id, "transactionId": format!("T{id}"),
                 "amount": amount, "state": state, "responseCode": if success { "SUCCESS" } else { "DECLINED" },
                 "paymentInstrument": {"type": "UPI", "utr": "206378866112"}}
    })
}

/// A callback's body and header, as PhonePe signs them with `salt` and `index`.
fn callback(answer: &Value, salt: &str, index: u32) -> (Vec<u8>, String) {
    let response = BASE64.encode(serde_json::to_vec(answer).unwrap());
    let header = x_verify(&response, "", salt, index);
    (serde_json::to_vec(&json!({ "response": response })).unwrap(), header)
}

async fn post_callback(app: &TestApp, body: Vec<u8>, header: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.post(format!("{}/webhooks/phonepe", app.address)).body(body);
    if let Some(header) = header {
        request = request.header("x-verify", header);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A DreamOps instance whose merchant account is the loopback PhonePe's.
async fn with_loopback() -> (TestApp, Shared) {
    let (address, phonepe) = loopback_phonepe().await;
    let app = TestApp::spawn_with(|settings| {
        settings.phonepe.merchant_id = Some(MERCHANT.into());
        settings.phonepe.salt_key = Some(SALT.to_string().into());
        settings.phonepe.salt_index = INDEX;
        settings.phonepe.api_base = Some(address.clone());
    })
    .await;
    (app, phonepe)
}

/// A signed-up team paying through PhonePe: its owner and id.
async fn phonepe_team(app: &TestApp, name: &str) -> (User, Uuid) {
    let owner = app.user();
    owner.sign_up(&format!("owner@{name}.example"), name).await;
    owner.run(SetPaymentProvider { provider: PaymentProvider::Phonepe }).await.expect("PhonePe is chosen");
    let id = owner.team().await;
    (owner, id)
}

/// The team's plan, status and period end.
async fn tier(app: &TestApp, team: Uuid) -> (String, Option<String>, Option<DateTime<Utc>>) {
    sqlx::query_as("select plan, subscription_status, period_end from teams where id = $1")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap()
}

/// The team's latest PhonePe payment id.
async fn latest_payment(app: &TestApp, team: Uuid) -> String {
    sqlx::query_scalar("select id from phonepe_payments where team_id = $1 order by created_at desc limit 1")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.state().db).await.unwrap()
}

fn complete(phonepe: &Shared, id: &str, state: &str) {
    phonepe.lock().unwrap().payments.get_mut(id).expect("PhonePe knows the payment").1 = state.into();
}

fn status_checks(phonepe: &Shared) -> usize {
    phonepe.lock().unwrap().received.iter().filter(|r| r.path.starts_with("/pg/v1/status/")).count()
}

#[tokio::test]
async fn a_payment_goes_through_phonepes_api_as_documented_and_is_granted_once_by_its_status() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "rupee").await;

    let url = owner.run(StartCheckout { plan: "pro".into() }).await.expect("PhonePe opens a payment");
    let id = latest_payment(&app, team).await;
    assert_eq!(url, format!("https://mercury-uat.phonepe.com/transact/simulator?token={id}"));
    let pay = phonepe.lock().unwrap().received[0].clone();
    assert_eq!((pay.method.as_str(), pay.path.as_str()), ("POST", "/pg/v1/pay"));
    assert!(pay.verified, "X-VERIFY is SHA-256(base64 payload + /pg/v1/pay + salt key)###index");
    assert_eq!(pay.headers["content-type"], "application/json");
    assert!(id.len() <= 35 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    let payload = &pay.payload;
    assert_eq!(payload["merchantId"], MERCHANT);
    assert_eq!(payload["merchantTransactionId"], id.as_str());
    assert_eq!(payload["amount"], 299_900, "Pro's ₹2,999 in paise");
    assert_eq!(payload["redirectMode"], "REDIRECT");
    assert_eq!(payload["redirectUrl"], format!("{}/billing/phonepe/return/{id}", app.address));
    assert_eq!(payload["callbackUrl"], format!("{}/webhooks/phonepe", app.address));
    assert_eq!(payload["paymentInstrument"], json!({"type": "PAY_PAGE"}));
    let user = payload["merchantUserId"].as_str().unwrap();
    assert!(user.len() <= 36 && user.bytes().all(|b| b.is_ascii_alphanumeric()), "{user}");
    assert_eq!(tier(&app, team).await.0, "free", "nothing is granted before PhonePe says it was paid");

    // PhonePe's callback: DreamOps asks the status API, then grants the month.
    complete(&phonepe, &id, "COMPLETED");
    let (body, header) = callback(&described(&id, 299_900, "COMPLETED"), SALT, INDEX);
    let (status, answer) = post_callback(&app, body.clone(), Some(&header)).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("granted")));
    let check = phonepe.lock().unwrap().received[1].clone();
    assert_eq!(
        (check.method.as_str(), check.path.as_str()),
        ("GET", format!("/pg/v1/status/{MERCHANT}/{id}").as_str())
    );
    assert!(check.verified, "X-VERIFY is SHA-256(/pg/v1/status/<merchant>/<transaction> + salt key)###index");
    assert_eq!(check.headers["x-merchant-id"], MERCHANT);
    let (plan, status, ends) = tier(&app, team).await;
    assert_eq!((plan.as_str(), status.as_deref()), ("pro", Some("active")));
    let month = ends.unwrap() - Utc::now();
    assert!(month > chrono::Duration::days(27) && month <= chrono::Duration::days(31), "{month}");

    // The same callback again, and the browser's return: one effect.
    let (status, answer) = post_callback(&app, body, Some(&header)).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("duplicate")));
    let back = app.client.get(format!("{}/billing/phonepe/return/{id}", app.address)).send().await.unwrap();
    assert_eq!(back.headers()["location"], "/settings/billing?checkout=success");
    assert_eq!(tier(&app, team).await.2, ends, "the month was granted once");
    let granted =
        count(&app, "select count(*) from audit_log where action = 'billing.phonepe.payment_completed'").await;
    assert_eq!(granted, 1);

    // The billing page lists it; renewing the plan adds a month after this one.
    let view = owner.run(GetBilling {}).await.unwrap();
    assert_eq!(view.provider, PaymentProvider::Phonepe);
    assert!(view.renews_by_hand);
    assert_eq!(view.payments[0].amount.as_deref(), Some("INR 2999.00"));
    assert_eq!(view.payments[0].provider, PaymentProvider::Phonepe);
    owner.run(StartCheckout { plan: "pro".into() }).await.expect("a renewal opens");
    let renewal = latest_payment(&app, team).await;
    complete(&phonepe, &renewal, "COMPLETED");
    let back = app.client.get(format!("{}/billing/phonepe/return/{renewal}", app.address)).send().await.unwrap();
    assert_eq!(back.headers()["location"], "/settings/billing?checkout=success");
    let renewed = tier(&app, team).await.2.unwrap();
    let added = renewed - ends.unwrap();
    assert!(added >= chrono::Duration::days(28) && added <= chrono::Duration::days(31), "{added}");
    app.stop().await;
}

#[tokio::test]
async fn forged_tampered_misleading_and_replayed_callbacks_grant_nothing() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "forged").await;
    owner.run(StartCheckout { plan: "enterprise".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    let amount = 999_900;
    let paid = described(&id, amount, "COMPLETED");
    let (body, header) = callback(&paid, SALT, INDEX);
    let mut tampered: Value = serde_json::from_slice(&body).unwrap();
    let response = tampered["response"].as_str().unwrap().to_string();
    let flipped = if response.starts_with('e') { "f" } else { "e" };
    tampered["response"] = json!(format!("{flipped}{}", &response[1..]));
    let mut other_merchant = paid.clone();
    other_merchant["data"]["merchantId"] = json!("SOMEONEELSE");
    let (other_body, other_header) = callback(&other_merchant, SALT, INDEX);
    let (wrong_salt_body, wrong_salt) = callback(&paid, "not-our-salt", INDEX);
    let (_, wrong_index) = callback(&paid, SALT, 2);

    let refused: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("tampered response", serde_json::to_vec(&tampered).unwrap(), Some(header.clone())),
        ("wrong salt key", wrong_salt_body, Some(wrong_salt)),
        ("wrong salt index", body.clone(), Some(wrong_index)),
        ("missing X-VERIFY", body.clone(), None),
        ("malformed X-VERIFY", body.clone(), Some("sha256=abc".into())),
        ("oversized X-VERIFY", body.clone(), Some(format!("{header}{}", "0".repeat(10_000)))),
        ("not JSON", b"response=abc".to_vec(), Some(header.clone())),
        ("not base64", br#"{"response":"%%%"}"#.to_vec(), Some(x_verify("%%%", "", SALT, INDEX))),
        ("another merchant", other_body, Some(other_header)),
    ];
    for (what, body, header) in refused {
        let (status, _) = post_callback(&app, body, header.as_deref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    }
    assert_eq!(status_checks(&phonepe), 0, "a refused callback makes DreamOps ask PhonePe nothing");
    assert_eq!(tier(&app, team).await.0, "free");
    let settled = count(&app, "select count(*) from phonepe_payments where state <> 'pending'").await;
    assert_eq!(settled, 0, "nothing refused changes a payment");

    // Authentic, but PhonePe's status disagrees: its word wins.
    let (status, answer) = post_callback(&app, body.clone(), Some(&header)).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("pending")), "PhonePe says pending");
    phonepe.lock().unwrap().misreported_amount = Some(100);
    complete(&phonepe, &id, "COMPLETED");
    let (status, answer) = post_callback(&app, body.clone(), Some(&header)).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("failed")), "paid ₹1, not ₹9,999");
    assert_eq!(tier(&app, team).await.0, "free");

    // A second payment the status calls failed, whatever the callback claims.
    phonepe.lock().unwrap().misreported_amount = None;
    owner.run(StartCheckout { plan: "enterprise".into() }).await.unwrap();
    let declined = latest_payment(&app, team).await;
    complete(&phonepe, &declined, "FAILED");
    let (body, header) = callback(&described(&declined, amount, "COMPLETED"), SALT, INDEX);
    let (_, answer) = post_callback(&app, body, Some(&header)).await;
    assert_eq!(answer["outcome"], "failed");
    assert_eq!(tier(&app, team).await.0, "free");

    // A transaction DreamOps never opened, signed: acknowledged, nothing stored.
    let (body, header) = callback(&described("DOFORGED", amount, "COMPLETED"), SALT, INDEX);
    let (status, answer) = post_callback(&app, body, Some(&header)).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("unknown")));
    assert_eq!(count(&app, "select count(*) from phonepe_payments where id = 'DOFORGED'").await, 0);

    // A real payment, then its callback replayed later: still one month.
    owner.run(StartCheckout { plan: "enterprise".into() }).await.unwrap();
    let real = latest_payment(&app, team).await;
    complete(&phonepe, &real, "COMPLETED");
    let (body, header) = callback(&described(&real, amount, "COMPLETED"), SALT, INDEX);
    assert_eq!(post_callback(&app, body.clone(), Some(&header)).await.1["outcome"], "granted");
    let ends = tier(&app, team).await.2;
    for _ in 0..3 {
        assert_eq!(post_callback(&app, body.clone(), Some(&header)).await.1["outcome"], "duplicate");
    }
    assert_eq!(tier(&app, team).await, ("enterprise".into(), Some("active".into()), ends));
    app.stop().await;
}

#[tokio::test]
async fn fifty_callbacks_and_returns_at_once_grant_one_month() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "racing").await;
    owner.run(StartCheckout { plan: "starter".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    complete(&phonepe, &id, "COMPLETED");
    let (body, header) = callback(&described(&id, 99_900, "COMPLETED"), SALT, INDEX);
    let outcomes = join_all((0..50).map(|n| {
        let (client, address, body, header, id) =
            (app.client.clone(), app.address.clone(), body.clone(), header.clone(), id.clone());
        async move {
            if n % 2 == 0 {
                let sent = client.post(format!("{address}/webhooks/phonepe")).header("x-verify", header).body(body);
                let answer: Value = sent.send().await.unwrap().json().await.unwrap_or(Value::Null);
                answer["outcome"].as_str().unwrap_or("").to_string()
            } else {
                let back = client.get(format!("{address}/billing/phonepe/return/{id}")).send().await.unwrap();
                back.headers()["location"].to_str().unwrap().to_string()
            }
        }
    }))
    .await;
    let granted = outcomes.iter().filter(|outcome| *outcome == "granted").count();
    let returns_ok = outcomes.iter().filter(|outcome| outcome.ends_with("checkout=success")).count();
    assert!(granted <= 1, "{outcomes:?}");
    assert_eq!(returns_ok, 25, "every return says it was paid: {outcomes:?}");
    assert_eq!(
        count(&app, "select count(*) from audit_log where action = 'billing.phonepe.payment_completed'").await,
        1
    );
    let (plan, _, ends) = tier(&app, team).await;
    assert_eq!(plan, "starter");
    assert!(ends.unwrap() - Utc::now() <= chrono::Duration::days(31), "one month, not fifty");
    app.stop().await;
}

#[tokio::test]
async fn when_phonepe_is_busy_or_down_nothing_is_lost_and_the_payment_settles_later() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "busy").await;

    phonepe.lock().unwrap().down = Some(503);
    let refused = owner.run(StartCheckout { plan: "pro".into() }).await;
    match refused {
        Err(AppError::Conflict(said)) => assert!(said.contains("PhonePe could not be reached or is busy"), "{said}"),
        other => panic!("{other:?}"),
    }
    let failed: (String, String) =
        sqlx::query_as("select state, response_code from phonepe_payments where team_id = $1")
            .bind(team)
            .fetch_one(&app.state().db)
            .await
            .unwrap();
    assert_eq!(failed, ("failed".into(), "UNAVAILABLE".into()));

    phonepe.lock().unwrap().down = None;
    owner.run(StartCheckout { plan: "pro".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    complete(&phonepe, &id, "COMPLETED");
    phonepe.lock().unwrap().down = Some(429);
    let (body, header) = callback(&described(&id, 299_900, "COMPLETED"), SALT, INDEX);
    let (status, _) = post_callback(&app, body, Some(&header)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "PhonePe's status could not be asked: PhonePe retries");
    let back = app.client.get(format!("{}/billing/phonepe/return/{id}", app.address)).send().await.unwrap();
    assert_eq!(back.headers()["location"], "/settings/billing?checkout=pending");
    assert_eq!(tier(&app, team).await.0, "free");

    // No callback comes back: the periodic round asks PhonePe once it answers again.
    phonepe.lock().unwrap().down = None;
    sqlx::query("update phonepe_payments set created_at = now() - interval '5 minutes' where id = $1")
        .bind(&id)
        .execute(&app.state().db)
        .await
        .unwrap();
    let tended = app::server::billing::phonepe::tend(&app.state()).await.unwrap();
    assert_eq!(tended.asked, 1);
    assert_eq!(tier(&app, team).await.0, "pro");
    app.stop().await;
}

#[tokio::test]
async fn test_mode_pays_through_the_simulated_phonepe_with_the_same_checks() {
    let app = TestApp::spawn().await;
    let owner = app.user();
    owner.sign_up("owner@sandbox.example", "sandbox").await;
    let team = owner.team().await;
    let offered = owner.run(GetBilling {}).await.unwrap().providers;
    assert_eq!(offered, vec![PaymentProvider::Stripe, PaymentProvider::Phonepe]);
    owner.run(SetPaymentProvider { provider: PaymentProvider::Phonepe }).await.unwrap();

    // Declined on the pay page: nothing changes.
    let url = owner.run(StartCheckout { plan: "pro".into() }).await.unwrap();
    assert!(url.starts_with(&format!("{}/phonepe-sandbox/pay/DO", app.address)), "{url}");
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("₹2999"));
    let declined = app.client.post(&url).form(&[("outcome", "decline")]).send().await.unwrap();
    let back = declined.headers()["location"].to_str().unwrap().to_string();
    let returned = app.client.get(&back).send().await.unwrap();
    assert_eq!(returned.headers()["location"], "/settings/billing?checkout=failed");
    assert_eq!(tier(&app, team).await.0, "free");

    // Paid: the simulated PhonePe's signed callback upgrades the team.
    let url = owner.run(StartCheckout { plan: "pro".into() }).await.unwrap();
    let paid = app.client.post(&url).form(&[("outcome", "pay")]).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(tier(&app, team).await.0, "pro", "the callback settled it before the browser came back");
    let returned = app.client.get(paid.headers()["location"].to_str().unwrap()).send().await.unwrap();
    assert_eq!(returned.headers()["location"], "/settings/billing?checkout=success");
    let again = app.client.post(&url).form(&[("outcome", "pay")]).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "a decided payment is not paid twice");
    assert_eq!(
        count(&app, "select count(*) from audit_log where action = 'billing.phonepe.payment_completed'").await,
        1
    );

    // The simulated API checks PhonePe's checksums as PhonePe does.
    let request = BASE64.encode(br#"{"merchantId":"DREAMOPSTEST"}"#);
    let forged = app
        .client
        .post(format!("{}/phonepe-sandbox/pg/v1/pay", app.address))
        .header("x-verify", x_verify(&request, "/pg/v1/pay", "guessed-salt", 1))
        .json(&json!({ "request": request }))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let id = latest_payment(&app, team).await;
    let status = app
        .client
        .get(format!("{}/phonepe-sandbox/pg/v1/status/DREAMOPSTEST/{id}", app.address))
        .header("x-verify", x_verify("", &format!("/pg/v1/status/DREAMOPSTEST/{id}"), "guessed-salt", 1))
        .header("x-merchant-id", "DREAMOPSTEST")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_month_ending_reminds_the_owners_once_then_lapses_and_a_cancelled_one_ends_on_free() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "renewal").await;
    app.member(&owner, "viewer@renewal.example", app::domain::account::Role::Viewer).await;
    owner.run(StartCheckout { plan: "pro".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    complete(&phonepe, &id, "COMPLETED");
    app.client.get(format!("{}/billing/phonepe/return/{id}", app.address)).send().await.unwrap();
    assert_eq!(tier(&app, team).await.0, "pro");

    let db = app.state().db;
    let set_end = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query(sql).bind(team).execute(&db).await.unwrap() }
    };
    let tend = || async { app::server::billing::phonepe::tend(&app.state()).await.unwrap() };
    set_end("update teams set period_end = now() + interval '2 days' where id = $1").await;
    assert_eq!(tend().await.reminded, 1);
    assert_eq!(tend().await.reminded, 0, "one reminder per month");
    let mails: Vec<(String, String)> =
        sqlx::query_as("select recipient::text, subject from mails where purpose = 'renewal_due'")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(mails.len(), 1, "owners only: {mails:?}");
    assert_eq!(mails[0].0, "owner@renewal.example");
    assert!(mails[0].1.contains("Your Pro plan ends on"), "{}", mails[0].1);

    set_end("update teams set period_end = now() - interval '1 minute' where id = $1").await;
    assert_eq!(tend().await.lapsed, 1);
    let (plan, status, _) = tier(&app, team).await;
    assert_eq!((plan.as_str(), status.as_deref()), ("pro", Some("past_due")), "the grace period applies");
    let view = owner.run(GetBilling {}).await.unwrap();
    assert!(view.grace_ends.is_some() && !view.grace_over);
    set_end("update teams set past_due_since = now() - interval '8 days' where id = $1").await;
    app::server::billing::end_expired_grace(&db).await.unwrap();
    assert_eq!(tier(&app, team).await.0, "free");

    // A cancelled month ends on Free at its end, without a grace period.
    owner.run(StartCheckout { plan: "starter".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    complete(&phonepe, &id, "COMPLETED");
    app.client.get(format!("{}/billing/phonepe/return/{id}", app.address)).send().await.unwrap();
    owner.run(CancelSubscription {}).await.expect("cancelled at the month's end");
    set_end("update teams set period_end = now() + interval '2 days' where id = $1").await;
    assert_eq!(tend().await.reminded, 0, "a cancelled plan is not to be renewed");
    set_end("update teams set period_end = now() - interval '1 minute' where id = $1").await;
    tend().await;
    assert_eq!(tier(&app, team).await, ("free".into(), Some("canceled".into()), None));
    app.stop().await;
}

#[tokio::test]
async fn the_provider_changes_only_on_free_and_only_to_one_this_deployment_offers() {
    let (app, phonepe) = with_loopback().await;
    let (owner, team) = phonepe_team(&app, "switch").await;
    owner.run(StartCheckout { plan: "pro".into() }).await.unwrap();
    let id = latest_payment(&app, team).await;
    complete(&phonepe, &id, "COMPLETED");
    app.client.get(format!("{}/billing/phonepe/return/{id}", app.address)).send().await.unwrap();
    let refused = owner.run(SetPaymentProvider { provider: PaymentProvider::Stripe }).await;
    assert!(matches!(&refused, Err(AppError::Conflict(said)) if said.contains("Cancel the plan")), "{refused:?}");
    let audited = count(&app, "select count(*) from audit_log where action = 'billing.provider_changed'").await;
    assert_eq!(audited, 1, "only the first choice");
    app.stop().await;

    // A deployment selling through Stripe only.
    let app = TestApp::spawn_with(|settings| {
        settings.stripe.secret_key = Some("sk_test_unused".to_string().into());
        settings.stripe.mode = app::server::config::BillingMode::Live;
    })
    .await;
    let owner = app.user();
    owner.sign_up("owner@stripe-only.example", "stripe-only").await;
    assert_eq!(owner.run(GetBilling {}).await.unwrap().providers, vec![PaymentProvider::Stripe]);
    let refused = owner.run(SetPaymentProvider { provider: PaymentProvider::Phonepe }).await;
    assert!(matches!(refused, Err(AppError::Validation(_))), "{refused:?}");
    app.stop().await;

    // A production deployment selling through PhonePe alone: no Stripe key, PhonePe's
    // merchant keys set. Every team pays through PhonePe without choosing it.
    let (address, phonepe) = loopback_phonepe().await;
    let app = TestApp::spawn_with(|settings| {
        settings.phonepe.merchant_id = Some(MERCHANT.into());
        settings.phonepe.salt_key = Some(SALT.to_string().into());
        settings.phonepe.salt_index = INDEX;
        settings.phonepe.api_base = Some(address.clone());
        settings.stripe.secret_key = None;
        settings.stripe.mode = app::server::config::BillingMode::Live;
    })
    .await;
    let owner = app.user();
    owner.sign_up("owner@phonepe-only.example", "phonepe-only").await;
    let billing = owner.run(GetBilling {}).await.unwrap();
    assert_eq!((billing.providers, billing.provider), (vec![PaymentProvider::Phonepe], PaymentProvider::Phonepe));
    let refused = owner.run(SetPaymentProvider { provider: PaymentProvider::Stripe }).await;
    assert!(matches!(refused, Err(AppError::Validation(_))), "{refused:?}");
    let url = owner.run(StartCheckout { plan: "starter".into() }).await.expect("PhonePe opens a payment");
    assert!(url.starts_with("https://mercury-uat.phonepe.com/transact/"), "{url}");
    assert_eq!(phonepe.lock().unwrap().received[0].path, "/pg/v1/pay");
    app.stop().await;
}
