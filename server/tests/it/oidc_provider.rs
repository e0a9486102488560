//! A real OpenID provider for the single sign-on tests: npm's oidc-provider, run as a
//! process (`end2end/oidc-provider.mjs`, installed with the end-to-end packages), and a
//! browser's way through its sign-in form.

use std::time::Duration;

/// The provider script and its npm packages (`npm ci` in end2end/, which the test
/// command runs).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../end2end/oidc-provider.mjs");

/// A client registered at the provider.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub redirect_uri: &'a str,
}

/// A running provider.
pub struct OidcProvider {
    process: tokio::process::Child,
    /// Its issuer URL.
    pub issuer: String,
}

impl OidcProvider {
    /// Starts a provider with `clients` on a free port, once it answers discovery.
    pub async fn start(clients: &[Client<'_>]) -> OidcProvider {
        assert!(
            std::path::Path::new(SCRIPT).parent().unwrap().join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run `bash .ci/test` once, or `npm ci` in end2end/"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let clients: Vec<serde_json::Value> = clients
            .iter()
            .map(|client| {
                serde_json::json!({"client_id": client.id, "client_secret": client.secret,
                                   "redirect_uris": [client.redirect_uri]})
            })
            .collect();
        let process = tokio::process::Command::new("node")
            .arg(SCRIPT)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENTS", serde_json::Value::from(clients).to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(&discovery).await.is_ok_and(|response| response.status().is_success()) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the OpenID provider did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        OidcProvider { process, issuer }
    }

    /// Goes, as `browser` would, from `authorization_url` through the provider's sign-in
    /// form as `login`; the address the provider then sends the browser back to.
    pub async fn sign_in(&self, browser: &reqwest::Client, authorization_url: &str, login: &str) -> String {
        let mut next = authorization_url.to_string();
        for _ in 0..10 {
            if !next.starts_with(&self.issuer) {
                return next;
            }
            let response = browser.get(&next).send().await.expect("the provider answers");
            if let Some(location) = response.headers().get("location") {
                next = self.absolute(location.to_str().unwrap());
                continue;
            }
            let page = response.text().await.unwrap();
            assert!(page.contains("name=\"login\""), "not the sign-in form: {page}");
            let submit = next.clone();
            let response = browser
                .post(&submit)
                .form(&[("prompt", "login"), ("login", login), ("password", "anything")])
                .send()
                .await
                .expect("the provider takes the form");
            let location = response.headers().get("location").expect("signed in, the provider sends the browser on");
            next = self.absolute(location.to_str().unwrap());
        }
        panic!("the provider never sent the browser back")
    }

    /// A code flow of the test's own, as client `client`, for an ID token with `nonce`
    /// (the provider's real token, to check with DreamOps' verification).
    pub async fn id_token(&self, client: &Client<'_>, login: &str, nonce: &str) -> String {
        let browser =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        // RFC 7636's example verifier and its S256 challenge (Appendix B).
        let (verifier, challenge) =
            ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let mut authorize = reqwest::Url::parse(&format!("{}/auth", self.issuer)).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", client.id)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email")
            .append_pair("redirect_uri", client.redirect_uri)
            .append_pair("state", "test-state")
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        let back = self.sign_in(&browser, authorize.as_str(), login).await;
        let code = reqwest::Url::parse(&back)
            .unwrap()
            .query_pairs()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| code.to_string())
            .unwrap_or_else(|| panic!("no code in {back}"));
        let tokens: serde_json::Value = browser
            .post(format!("{}/token", self.issuer))
            .basic_auth(client.id, Some(client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", client.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens["id_token"].as_str().unwrap_or_else(|| panic!("no ID token: {tokens}")).to_string()
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') { format!("{}{location}", self.issuer) } else { location.to_string() }
    }

    /// Stops the provider.
    pub async fn stop(mut self) {
        let _ = self.process.kill().await;
    }
}
