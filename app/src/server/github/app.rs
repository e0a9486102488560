//! A GitHub App installation as a team's access: a JSON Web Token signed with the app's
//! private key (RS256, as GitHub documents: issued a minute back for clock drift,
//! expiring nine minutes on, issued by the app's id), exchanged for an installation
//! access token, which is kept — per team, in this instance — until five minutes before
//! it expires.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha2::Sha256;
use uuid::Uuid;

use super::api::{Failure, GitHub};

/// An installation of a team's GitHub App.
#[derive(Clone, Debug)]
pub struct Installation {
    /// The app's id (or its client id), the JWT's issuer.
    pub app_id: String,
    pub installation_id: i64,
    /// The app's private key, in PEM.
    pub private_key: String,
}

/// The app's private key from its PEM (PKCS#1, as GitHub hands it out, or PKCS#8).
pub fn private_key(pem: &str) -> Result<RsaPrivateKey, &'static str> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|_| "Paste the app's private key: the whole .pem file GitHub generated, BEGIN and END lines included.")
}

/// The JWT that authenticates as the app at `now`.
pub fn jwt(app_id: &str, key: &RsaPrivateKey, now: DateTime<Utc>) -> String {
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iat": (now - Duration::seconds(60)).timestamp(),
        "exp": (now + Duration::seconds(540)).timestamp(),
        "iss": app_id,
    });
    let signed = format!("{header}.{}", encode(claims.to_string().as_bytes()));
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(signed.as_bytes());
    format!("{signed}.{}", encode(&signature.to_bytes()))
}

/// A kept installation token, and until when it is used.
type Kept = (String, DateTime<Utc>);

/// Installation tokens kept, per team.
static TOKENS: LazyLock<Mutex<HashMap<Uuid, Kept>>> = LazyLock::new(Mutex::default);

/// Forgets the team's kept token (its installation changed or was removed).
pub fn forget(team: Uuid) {
    TOKENS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&team);
}

/// An installation access token for the team's `installation`: the one kept, or a new
/// one from GitHub (`base`).
pub async fn token(base: &str, team: Uuid, installation: &Installation) -> Result<String, Failure> {
    let kept = TOKENS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&team).cloned();
    if let Some((token, _)) = kept.filter(|(_, until)| *until > Utc::now()) {
        return Ok(token);
    }
    let key = private_key(&installation.private_key).map_err(|why| Failure::Unexpected(why.into()))?;
    let app = GitHub { base: base.to_string(), token: jwt(&installation.app_id, &key, Utc::now()) };
    let (token, expires_at) = app.installation_token(installation.installation_id).await?;
    let until = (expires_at - Duration::minutes(5)).max(Utc::now());
    TOKENS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(team, (token.clone(), until));
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_one_is_refused_in_words() {
        assert!(private_key("ghp_not_a_key").unwrap_err().starts_with("Paste the app's private key"));
    }
}
