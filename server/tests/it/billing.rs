//! Plans and billing: test mode's checkout, and Stripe's signed callbacks — forged,
//! stale, repeated, concurrent, out of order and unparseable deliveries.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use app::api::accounts::DeleteTeam;
use app::api::billing::{
    CancelSubscription, GetBilling, GetPricing, GetTestCheckout, OpenBillingPortal, PayTestCheckout, StartCheckout,
};
use app::api::incidents::ReportIncident;
use app::api::integrations::GetUsage;
use app::domain::billing::BillingView;
use app::domain::incident::NewIncident;
use app::error::AppError;
use app::server::billing::simulated::{self, SimulatedSubscription};
use app::server::billing::{signature, webhook_secrets};

use crate::support::{TestApp, User, join_all};

/// A signed-up team: its owner and id.
async fn team(app: &TestApp, name: &str) -> (User, Uuid) {
    let owner = app.user();
    owner.sign_up(&format!("owner@{name}.example"), name).await;
    let id = owner.team().await;
    (owner, id)
}

fn secret(app: &TestApp) -> String {
    let state = app.state();
    webhook_secrets(&state.settings.stripe, &state.cipher).remove(0)
}

/// Posts `body` to the webhook with `signature` (if any); the status and the answer.
async fn post(app: &TestApp, body: &[u8], signature: Option<String>) -> (StatusCode, Value) {
    let mut request = app.client.post(format!("{}/webhooks/stripe", app.address)).body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Delivers `event` signed with the endpoint's secret now.
async fn deliver(app: &TestApp, event: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(event).unwrap();
    post(app, &body, Some(signature::sign(&secret(app), Utc::now().timestamp(), &body))).await
}

/// Opens a checkout for `plan`; its session id.
async fn open_checkout(owner: &User, plan: &str) -> String {
    let url = owner.run(StartCheckout { plan: plan.into() }).await.expect("the checkout opens");
    url.rsplit('/').next().unwrap().to_string()
}

/// Pays test checkout `session` with `card`.
async fn pay(owner: &User, session: &str, card: &str) -> Result<(), AppError> {
    owner.run(PayTestCheckout { session: session.into(), card: card.into() }).await
}

async fn billing(owner: &User) -> BillingView {
    owner.run(GetBilling {}).await.expect("the billing page's figures")
}

async fn plan_of(app: &TestApp, team: Uuid) -> (String, Option<String>) {
    sqlx::query_as("select plan, subscription_status from teams where id = $1")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap()
}

/// A subscription of `team` to `plan`, as the team's checkout would have made it.
async fn subscribed(app: &TestApp, owner: &User, team: Uuid, plan: &str) -> SimulatedSubscription {
    open_checkout(owner, plan).await;
    let price = app.state().settings.stripe.price_of(plan).unwrap().to_string();
    SimulatedSubscription::new(team, plan, &price, Utc::now())
}

#[tokio::test]
async fn a_test_mode_checkout_upgrades_the_team_and_releases_its_held_incidents() {
    let app = TestApp::spawn().await;
    let (owner, team) = team(&app, "upgrade").await;
    for n in 0..4 {
        let incident = NewIncident { title: format!("Incident {n}"), severity: None, service: None, description: None };
        owner.run(ReportIncident { incident }).await.expect("reported");
    }
    let held: i64 = sqlx::query_scalar("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    assert_eq!(held, 1, "Free analyses three a month");

    let session = open_checkout(&owner, "pro").await;
    let declined = pay(&owner, &session, "4000 0000 0000 0002").await;
    assert!(matches!(&declined, Err(AppError::Validation(_))), "{declined:?}");
    let said = declined.as_ref().map_err(ToString::to_string).unwrap_err();
    assert!(said.contains("Your card was declined."), "{said}");
    assert_eq!(plan_of(&app, team).await.0, "free", "a declined card changes nothing");
    let unknown = pay(&owner, &session, "1234 5678 9012 3456").await;
    assert!(matches!(unknown, Err(AppError::Validation(_))), "{unknown:?}");

    pay(&owner, &session, "4242 4242 4242 4242").await.expect("paid");
    assert_eq!(plan_of(&app, team).await, ("pro".to_string(), Some("active".to_string())));
    assert_eq!(owner.run(GetUsage {}).await.unwrap().limit, Some(200));
    let held: i64 = sqlx::query_scalar("select count(*) from incidents where team_id = $1 and analysis = 'over_quota'")
        .bind(team)
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    assert_eq!(held, 0, "the held incident is eligible for analysis at once");

    let view = billing(&owner).await;
    assert_eq!(view.plan_name, "Pro");
    assert!(view.payments[0].paid);
    assert_eq!(view.payments[0].amount.as_deref(), Some("INR 2999.00"));
    let again = pay(&owner, &session, "4242424242424242").await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "a checkout is paid once: {again:?}");

    let audited: Vec<(String, String)> = sqlx::query_as(
        "select actor_kind, action from audit_log where team_id = $1 and action like 'billing.%' order by id",
    )
    .bind(team)
    .fetch_all(&app.state().db)
    .await
    .unwrap();
    assert!(audited.contains(&("payment_provider".into(), "billing.checkout.session.completed".into())), "{audited:?}");
    assert!(audited.contains(&("user".into(), "billing.checkout_started".into())));

    // Cancelling keeps the plan to the period's end, then Stripe's deletion ends it.
    owner.run(CancelSubscription {}).await.expect("cancelled at the period's end");
    let view = billing(&owner).await;
    assert!(view.cancel_at_period_end);
    assert_eq!(view.plan, "pro");
    app.stop().await;
}

#[tokio::test]
async fn forged_tampered_stale_and_unsigned_deliveries_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (owner, team) = team(&app, "forged").await;
    let subscription = subscribed(&app, &owner, team, "enterprise").await;
    let body =
        serde_json::to_vec(&simulated::event("customer.subscription.created", subscription.object(), Utc::now()))
            .unwrap();
    let now = Utc::now().timestamp();
    let secret = secret(&app);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'e').unwrap();
    tampered[at] = b'E';
    let attempts: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("tampered body", tampered, Some(signature::sign(&secret, now, &body))),
        ("wrong secret", body.clone(), Some(signature::sign("whsec_not_ours", now, &body))),
        ("stale timestamp", body.clone(), Some(signature::sign(&secret, now - 400, &body))),
        ("future timestamp", body.clone(), Some(signature::sign(&secret, now + 400, &body))),
        ("missing header", body.clone(), None),
    ];
    for (what, body, header) in attempts {
        let (status, _) = post(&app, &body, header).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    }
    assert_eq!(plan_of(&app, team).await.0, "free");
    let stored: i64 =
        sqlx::query_scalar("select count(*) from stripe_events").fetch_one(&app.state().db).await.unwrap();
    assert_eq!(stored, 0, "nothing refused is stored");

    let (status, answer) = post(&app, &body, Some(signature::sign(&secret, now, &body))).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("applied")));
    assert_eq!(plan_of(&app, team).await.0, "enterprise");
    app.stop().await;
}

#[tokio::test]
async fn an_event_delivered_twice_or_fifty_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    let (owner, team) = team(&app, "twice").await;
    let subscription = subscribed(&app, &owner, team, "starter").await;
    let event = simulated::event("customer.subscription.created", subscription.object(), Utc::now());
    assert_eq!(deliver(&app, &event).await.1["outcome"], "applied");
    assert_eq!(deliver(&app, &event).await.1["outcome"], "duplicate");

    let (other, other_team) = self::team(&app, "fifty").await;
    let subscription = subscribed(&app, &other, other_team, "pro").await;
    let event = simulated::event("customer.subscription.created", subscription.object(), Utc::now());
    let body = serde_json::to_vec(&event).unwrap();
    let header = signature::sign(&secret(&app), Utc::now().timestamp(), &body);
    let outcomes = join_all((0..50).map(|_| {
        let (client, address, body, header) = (app.client.clone(), app.address.clone(), body.clone(), header.clone());
        async move {
            let response = client
                .post(format!("{address}/webhooks/stripe"))
                .header("stripe-signature", header)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["outcome"].as_str().unwrap().to_string()
        }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| *o == "applied").count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 49);
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where target = $1")
        .bind(event["id"].as_str().unwrap())
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    assert_eq!(audited, 1, "one effect, one audit record");
    assert_eq!(plan_of(&app, other_team).await.0, "pro");
    app.stop().await;
}

#[tokio::test]
async fn arrival_order_never_decides_the_subscriptions_state() {
    let app = TestApp::spawn().await;
    let (owner, team) = team(&app, "order").await;
    let mut subscription = subscribed(&app, &owner, team, "pro").await;
    let created =
        simulated::event("customer.subscription.created", subscription.object(), Utc::now() - Duration::seconds(60));
    subscription.cancel_at_period_end = true;
    let updated =
        simulated::event("customer.subscription.updated", subscription.object(), Utc::now() - Duration::seconds(30));
    subscription.status = "canceled".into();
    let deleted = simulated::event("customer.subscription.deleted", subscription.object(), Utc::now());

    // Delivered newest first: the deletion, then the update and creation before it.
    assert_eq!(deliver(&app, &deleted).await.1["outcome"], "applied");
    assert_eq!(deliver(&app, &updated).await.1["outcome"], "ignored");
    assert_eq!(deliver(&app, &created).await.1["outcome"], "ignored");
    assert_eq!(plan_of(&app, team).await, ("free".to_string(), Some("canceled".to_string())));
    app.stop().await;
}

#[tokio::test]
async fn a_failed_payment_keeps_the_tier_for_the_grace_period_and_a_paid_one_ends_it() {
    let app = TestApp::spawn().await;
    let (owner, team) = team(&app, "grace").await;
    let subscription = subscribed(&app, &owner, team, "pro").await;
    deliver(&app, &simulated::event("customer.subscription.created", subscription.object(), Utc::now())).await;
    let invoice = |kind: &str| {
        simulated::event(
            kind,
            json!({"id": "in_test_1", "object": "invoice", "customer": subscription.customer, "currency": "inr",
                   "amount_due": 299_900, "amount_paid": 0, "subscription": subscription.id}),
            Utc::now(),
        )
    };
    assert_eq!(deliver(&app, &invoice("invoice.payment_failed")).await.1["outcome"], "applied");
    assert_eq!(plan_of(&app, team).await, ("pro".to_string(), Some("past_due".to_string())));
    let view = billing(&owner).await;
    assert!(view.grace_ends.is_some(), "the billing page shows until when: {view:?}");
    assert!(!view.grace_over);

    // Past the grace period, the team is on Free.
    sqlx::query("update teams set past_due_since = now() - interval '8 days' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    assert_eq!(app::server::billing::end_expired_grace(&app.state().db).await.unwrap(), 1);
    assert_eq!(plan_of(&app, team).await.0, "free");
    assert!(billing(&owner).await.grace_over, "the banner says the grace period is over, not that Pro stays");

    assert_eq!(deliver(&app, &invoice("invoice.paid")).await.1["outcome"], "applied");
    let view = billing(&owner).await;
    assert_eq!(view.grace_ends, None);
    assert_eq!(view.payments.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn authentic_events_we_cannot_parse_are_stored_and_acknowledged() {
    let app = TestApp::spawn().await;
    let (status, answer) = deliver(&app, &json!("not an event")).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("unparsed")));
    let broken = simulated::event("customer.subscription.updated", json!({"id": "sub_x", "items": 7}), Utc::now());
    let (status, answer) = deliver(&app, &broken).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("unparsed")));
    let unknown = simulated::event("customer.tax_id.created", json!({"id": "txi_1"}), Utc::now());
    assert_eq!(deliver(&app, &unknown).await.1["outcome"], "ignored");
    let stored: Vec<String> = sqlx::query_scalar("select outcome from stripe_events order by received_at")
        .fetch_all(&app.state().db)
        .await
        .unwrap();
    assert_eq!(stored, ["unparsed", "unparsed", "ignored"]);
    app.stop().await;
}

#[tokio::test]
async fn a_checkout_of_one_team_never_upgrades_another() {
    let app = TestApp::spawn().await;
    let (alpha, alpha_team) = team(&app, "alpha").await;
    let (_bravo, bravo_team) = team(&app, "bravo").await;
    let session = open_checkout(&alpha, "enterprise").await;
    let price = app.state().settings.stripe.price_of("enterprise").unwrap().to_string();

    // A signed completion of Alpha's checkout that names Bravo changes neither.
    let forged = SimulatedSubscription::new(bravo_team, "enterprise", &price, Utc::now());
    let events = simulated::checkout_events(&session, &forged, 9_999, Utc::now());
    for event in &events {
        deliver(&app, event).await;
    }
    assert_eq!(plan_of(&app, bravo_team).await.0, "free", "Bravo opened no checkout");
    assert_eq!(plan_of(&app, alpha_team).await.0, "free", "the completion named another team");

    // The same, unsigned, is refused outright.
    let body = serde_json::to_vec(&events[1]).unwrap();
    assert_eq!(post(&app, &body, None).await.0, StatusCode::BAD_REQUEST);

    // Bravo cannot see or pay Alpha's checkout.
    let bravo = app.user();
    bravo.log_in("owner@bravo.example", crate::support::PASSWORD).await;
    assert_eq!(bravo.run(GetTestCheckout { session: session.clone() }).await, Err(AppError::NotFound));
    assert_eq!(pay(&bravo, &session, "4242424242424242").await, Err(AppError::NotFound));
    assert_eq!(plan_of(&app, alpha_team).await.0, "free");
    app.stop().await;
}

/// A Stripe sample from `tests/fixtures/stripe/`.
fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stripe").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the loopback Stripe API received: method and path, headers, form fields.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: axum::http::HeaderMap,
    form: Vec<(String, String)>,
}

impl Received {
    fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A loopback server answering Stripe's API paths with Stripe's JSON shapes (the
/// samples' objects), recording each request.
async fn loopback_stripe() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use axum::extract::{Request, State};
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    async fn answer(
        State(received): State<std::sync::Arc<std::sync::Mutex<Vec<Received>>>>,
        request: Request,
    ) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let path = format!("{} {}", parts.method, parts.uri.path());
        received.lock().unwrap().push(Received { path: path.clone(), headers: parts.headers, form });
        if path.contains("/v1/subscriptions/sub_down") {
            let error = json!({"error": {"type": "api_error", "message": "Stripe is having a moment."}});
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(error)).into_response();
        }
        let mut object = if path.contains("/v1/checkout/sessions") {
            let mut session = sample("stripe_evt_cs_completed.json")["data"]["object"].clone();
            session["id"] = json!("cs_test_loopback");
            session["url"] = json!("https://checkout.stripe.com/c/pay/cs_test_loopback");
            session
        } else if path.contains("/v1/billing_portal/sessions") {
            json!({"id": "bps_loopback", "object": "billing_portal.session", "configuration": "bpc_1", "created": 1795312620,
                   "customer": "cus_loopback", "customer_account": null, "flow": null, "livemode": false, "locale": null,
                   "on_behalf_of": null, "return_url": "http://localhost/settings/billing",
                   "url": "https://billing.stripe.com/p/session/loopback"})
        } else {
            sample("stripe_evt_sub_updated.json")["data"]["object"].clone()
        };
        if path.starts_with("DELETE /v1/subscriptions/") {
            object["status"] = json!("canceled");
        } else if path.contains("/v1/subscriptions/") {
            object["cancel_at_period_end"] = json!(true);
        }
        axum::Json(object).into_response()
    }
    let router = axum::Router::new().fallback(answer).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (address, received)
}

#[tokio::test]
async fn with_a_key_checkout_portal_and_cancellation_go_through_stripes_api() {
    let (stripe_url, received) = loopback_stripe().await;
    let app = TestApp::spawn_with(|settings| {
        settings.stripe.secret_key = Some("sk_test_loopback".to_string().into());
        settings.stripe.mode = app::server::config::BillingMode::Live;
        settings.stripe.api_base = Some(stripe_url.clone());
        settings.public_url = Some("https://dreamops.example".into());
        settings.stripe.prices = vec![("pro".into(), "price_pro_live".into())];
    })
    .await;
    let (owner, team) = team(&app, "live").await;

    let url = owner.run(StartCheckout { plan: "pro".into() }).await.expect("the checkout opens");
    assert_eq!(url, "https://checkout.stripe.com/c/pay/cs_test_loopback");
    let request = received.lock().unwrap()[0].clone();
    assert_eq!(request.path, "POST /v1/checkout/sessions");
    assert_eq!(request.headers["authorization"], "Bearer sk_test_loopback");
    assert!(request.headers["idempotency-key"].to_str().unwrap().starts_with("checkout-"));
    let team_id = team.to_string();
    for (field, expected) in [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_pro_live"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", team_id.as_str()),
        ("metadata[team_id]", team_id.as_str()),
        ("metadata[plan]", "pro"),
        ("subscription_data[metadata][team_id]", team_id.as_str()),
    ] {
        assert_eq!(request.field(field), Some(expected), "{field} in {:?}", request.form);
    }
    assert_eq!(
        request.field("success_url"),
        Some("https://dreamops.example/settings/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(request.field("cancel_url"), Some("https://dreamops.example/pricing?checkout=cancelled"));
    let opened: Uuid = sqlx::query_scalar("select team_id from checkout_sessions where id = 'cs_test_loopback'")
        .fetch_one(&app.state().db)
        .await
        .unwrap();
    assert_eq!(opened, team, "the session is remembered for its team");

    // Once Stripe has linked a customer and subscription: the portal and cancellation.
    sqlx::query("update teams set plan = 'pro', stripe_customer_id = 'cus_live', stripe_subscription_id = 'sub_live' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    let portal = owner.run(OpenBillingPortal {}).await.expect("the portal opens");
    assert_eq!(portal, "https://billing.stripe.com/p/session/loopback");
    owner.run(CancelSubscription {}).await.expect("cancelled at the period's end");
    let requests = received.lock().unwrap().clone();
    assert_eq!(requests[1].path, "POST /v1/billing_portal/sessions");
    assert_eq!(requests[1].field("customer"), Some("cus_live"));
    assert_eq!(requests[1].field("return_url"), Some("https://dreamops.example/settings/billing"));
    assert_eq!(requests[2].path, "POST /v1/subscriptions/sub_live");
    assert_eq!(requests[2].field("cancel_at_period_end"), Some("true"));

    // With a key there is no test checkout.
    assert_eq!(pay(&owner, "cs_test_loopback", "4242424242424242").await, Err(AppError::NotFound));
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_paying_team_cancels_its_subscription_at_stripe_first() {
    let (stripe_url, received) = loopback_stripe().await;
    let app = TestApp::spawn_with(|settings| {
        settings.stripe.secret_key = Some("sk_test_loopback".to_string().into());
        settings.stripe.mode = app::server::config::BillingMode::Live;
        settings.stripe.api_base = Some(stripe_url.clone());
    })
    .await;
    let (owner, team) = team(&app, "leaving").await;
    let db = app.state().db;
    let subscribe = |subscription: &'static str| {
        sqlx::query(
            "update teams set plan = 'pro', stripe_customer_id = 'cus_live', stripe_subscription_id = $2,
             subscription_status = 'active' where id = $1",
        )
        .bind(team)
        .bind(subscription)
        .execute(&db)
    };
    subscribe("sub_down").await.unwrap();
    let exists = || sqlx::query_scalar::<_, bool>("select exists (select 1 from teams where id = $1)").bind(team);

    // Stripe does not confirm: nothing is deleted, and the owner is told why.
    let refused = owner.run(DeleteTeam { confirmation: "leaving".into() }).await;
    assert!(matches!(&refused, Err(AppError::Conflict(why)) if why.contains("nothing was deleted")), "{refused:?}");
    assert!(exists().fetch_one(&db).await.unwrap(), "the team is still there");

    subscribe("sub_live").await.unwrap();
    owner.run(DeleteTeam { confirmation: "leaving".into() }).await.expect("deleted");
    let requests = received.lock().unwrap().clone();
    let cancel = requests.last().expect("Stripe was called");
    assert_eq!(cancel.path, "DELETE /v1/subscriptions/sub_live");
    assert_eq!(cancel.headers["authorization"], "Bearer sk_test_loopback");
    assert!(!exists().fetch_one(&db).await.unwrap(), "the team is gone");
    app.stop().await;
}

#[tokio::test]
async fn stripes_own_sample_events_are_understood() {
    let app = TestApp::spawn_with(|settings| {
        settings.stripe.prices = vec![("pro".into(), "price_1PgafmB7WZ01zgkW6dKueIc5".into())];
    })
    .await;
    let (_owner, team) = team(&app, "samples").await;
    // Linked to the samples' customer, as a completed checkout would have done.
    sqlx::query("update teams set stripe_customer_id = 'cus_QXg1o8vcGmoR32' where id = $1")
        .bind(team)
        .execute(&app.state().db)
        .await
        .unwrap();
    let mut updated = sample("stripe_evt_sub_updated.json");
    updated["created"] = json!(Utc::now().timestamp() - 60);
    assert_eq!(deliver(&app, &updated).await.1["outcome"], "applied");
    assert_eq!(plan_of(&app, team).await, ("pro".to_string(), Some("active".to_string())));
    let mut failed = sample("stripe_evt_invoice_failed.json");
    failed["id"] = json!("evt_sample_failed");
    assert_eq!(deliver(&app, &failed).await.1["outcome"], "applied");
    assert_eq!(plan_of(&app, team).await.1.as_deref(), Some("past_due"));
    let mut deleted = sample("stripe_evt_sub_deleted.json");
    deleted["created"] = json!(Utc::now().timestamp());
    assert_eq!(deliver(&app, &deleted).await.1["outcome"], "applied");
    assert_eq!(plan_of(&app, team).await.0, "free");
    // A checkout DreamOps never opened changes nothing.
    assert_eq!(deliver(&app, &sample("stripe_evt_cs_completed.json")).await.1["outcome"], "ignored");
    app.stop().await;
}

#[tokio::test]
async fn a_deployment_whose_payments_are_off_sells_no_upgrade() {
    let app = TestApp::spawn_with(|settings| settings.stripe.mode = app::server::config::BillingMode::Off).await;
    let (owner, team) = team(&app, "unpaid").await;
    let pricing = owner.run(GetPricing {}).await.expect("the prices are shown");
    assert_eq!((pricing.upgrades, pricing.test_mode), (false, false));
    let started = owner.run(StartCheckout { plan: "enterprise".into() }).await;
    assert!(
        matches!(&started, Err(AppError::Conflict(why)) if why.contains("not available on this deployment")),
        "{started:?}"
    );
    assert_eq!(plan_of(&app, team).await.0, "free");
    let page = owner.client.get(format!("{}/pricing", owner.address)).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Upgrades are not available on this deployment yet") && !page.contains("Choose Pro"),
        "{page}"
    );
    app.stop().await;
}
