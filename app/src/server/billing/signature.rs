//! Stripe's webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`,
//! each `v1` the lowercase hex HMAC-SHA256 of `"<t>.<raw body>"` keyed with a whole
//! `whsec_...` secret. Checked on the raw bytes before anything is parsed; any `v1`
//! matching any of our secrets will do (several appear while secrets rotate).

use crate::server::webhook_signature::{Oversized, SignatureHeader};

/// How far a signature's time may be from ours, in seconds, either way.
pub const TOLERANCE_SECS: u64 = 300;

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No `Stripe-Signature` header.
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// Over the bounds: refused before any MAC.
    #[error(transparent)]
    Oversized(#[from] Oversized),
    /// The header has no time or no `v1` signature.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// Signed too long ago, or in the future, beyond the tolerance.
    #[error("the signature's timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    OutsideTolerance,
    /// No signature matches any of our secrets.
    #[error("no signature matches")]
    NoMatch,
}

/// Checks `header` against `body` with `secrets` at `now` (unix seconds).
pub fn verify(header: Option<&str>, body: &[u8], secrets: &[&str], now: i64) -> Result<(), Refused> {
    let header = SignatureHeader::read(header.ok_or(Refused::Missing)?)?;
    let timestamp = header.timestamp.and_then(|t| t.parse::<i64>().ok()).ok_or(Refused::Malformed)?;
    if header.is_empty() {
        return Err(Refused::Malformed);
    }
    if !crate::server::webhook_signature::signed_within(timestamp, now, TOLERANCE_SECS) {
        return Err(Refused::OutsideTolerance);
    }
    let signed_at = timestamp.to_string();
    if header.matches_any(secrets.iter().map(|secret| secret.as_bytes()), &[signed_at.as_bytes(), b".", body]) {
        Ok(())
    } else {
        Err(Refused::NoMatch)
    }
}

/// The `Stripe-Signature` header for `body` signed with `secret` at `timestamp`, as
/// Stripe makes it (test mode delivers its events with it).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    crate::server::webhook_signature::sign_timestamped([secret.as_bytes()], timestamp, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_795_312_620;

    #[test]
    fn a_signature_of_ours_verifies_and_any_change_refuses_it() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let header = sign(SECRET, NOW, body);
        assert_eq!(verify(Some(&header), body, &[SECRET], NOW), Ok(()));
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2","type":"invoice.paid"}"#, &[SECRET], NOW),
            Err(Refused::NoMatch)
        );
        assert_eq!(verify(Some(&header), body, &["whsec_other"], NOW), Err(Refused::NoMatch));
        assert_eq!(verify(None, body, &[SECRET], NOW), Err(Refused::Missing));
        assert_eq!(verify(Some("v1=abcd"), body, &[SECRET], NOW), Err(Refused::Malformed));
        assert_eq!(verify(Some(&format!("t={NOW}")), body, &[SECRET], NOW), Err(Refused::Malformed));
    }

    #[test]
    fn a_header_of_thousands_of_entries_is_refused_before_any_mac() {
        let body = vec![b'x'; 400 * 1024];
        let header = format!("t={NOW},{}", "v1=,".repeat(8_000));
        assert_eq!(verify(Some(&header), &body, &[SECRET], NOW), Err(Refused::Oversized(Oversized::TooLong)));
    }

    #[test]
    fn the_timestamp_must_be_within_five_minutes_either_way() {
        let body = b"{}";
        for (signed_at, accepted) in [(NOW - 300, true), (NOW - 301, false), (NOW + 300, true), (NOW + 301, false)] {
            let header = sign(SECRET, signed_at, body);
            let result = verify(Some(&header), body, &[SECRET], NOW);
            assert_eq!(result.is_ok(), accepted, "signed at {signed_at}: {result:?}");
        }
        for signed_at in [i64::MIN, i64::MAX] {
            let header = format!("t={signed_at},v1={}", "0".repeat(64));
            assert_eq!(verify(Some(&header), body, &[SECRET], NOW), Err(Refused::OutsideTolerance));
        }
    }

    #[test]
    fn any_v1_under_any_secret_will_do_while_rotating() {
        let body = b"{}";
        let old = sign("whsec_old", NOW, body);
        let new = sign("whsec_new", NOW, body);
        let both = format!("{},{},v0=ignored", old, new.split_once(',').unwrap().1);
        assert_eq!(verify(Some(&both), body, &["whsec_new"], NOW), Ok(()));
        assert_eq!(verify(Some(&both), body, &["whsec_old"], NOW), Ok(()));
        assert_eq!(verify(Some(&old), body, &["whsec_new", "whsec_old"], NOW), Ok(()));
    }
}
