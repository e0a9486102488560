//! HMAC-SHA256 signatures of webhook bodies as Stripe and PagerDuty send them: a header
//! of comma-separated `scheme=value` entries, each `v1` the hex MAC of the signed message
//! under one of the sender's active secrets (several while secrets rotate); and Grafana's
//! single hex MAC with its own timestamp header.
//!
//! The header comes from anyone, before anything is authenticated, so the work it can
//! cause is bounded before any MAC is computed: a header longer than
//! [`MAX_HEADER_BYTES`] or with more than [`MAX_SIGNATURES`] `v1` entries is refused
//! unread, and each secret's MAC is computed once, however many entries there are.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The longest signature header read. Senders send one entry per active secret (about
/// 70 bytes each): a few hundred bytes.
pub const MAX_HEADER_BYTES: usize = 4096;
/// The most `v1` entries read in one header.
pub const MAX_SIGNATURES: usize = 16;

/// A header refused before any MAC was computed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Oversized {
    #[error("the signature header is longer than {MAX_HEADER_BYTES} bytes")]
    TooLong,
    #[error("the signature header carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
}

/// A signature header, read.
#[derive(Debug)]
pub struct SignatureHeader<'a> {
    /// The `t` entry, if any (Stripe's signing time).
    pub timestamp: Option<&'a str>,
    /// The `v1` entries that are MACs (64 hex digits); others cannot match and are dropped.
    signatures: Vec<[u8; 32]>,
}

impl<'a> SignatureHeader<'a> {
    /// Reads `header`, refusing it unread when it is over the bounds.
    pub fn read(header: &'a str) -> Result<Self, Oversized> {
        if header.len() > MAX_HEADER_BYTES {
            return Err(Oversized::TooLong);
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        let mut v1_entries = 0;
        for entry in header.split(',') {
            match entry.trim().split_once('=') {
                Some(("t", value)) => timestamp = Some(value),
                Some(("v1", value)) => {
                    v1_entries += 1;
                    if v1_entries > MAX_SIGNATURES {
                        return Err(Oversized::TooManySignatures);
                    }
                    let mut signature = [0_u8; 32];
                    if hex::decode_to_slice(value, &mut signature).is_ok() {
                        signatures.push(signature);
                    }
                }
                _ => {}
            }
        }
        Ok(SignatureHeader { timestamp, signatures })
    }

    /// Whether the header carries no usable `v1` signature.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// Whether any signature is the MAC of `message` (its parts in order) under any of
    /// `secrets`: one MAC per secret, compared with every signature in constant time.
    pub fn matches_any<'s>(&self, secrets: impl IntoIterator<Item = &'s [u8]>, message: &[&[u8]]) -> bool {
        if self.signatures.is_empty() {
            return false;
        }
        secrets.into_iter().any(|secret| {
            let expected = mac(secret, message);
            self.signatures.iter().fold(false, |found, signature| found | bool::from(signature.ct_eq(&expected)))
        })
    }
}

/// Whether `signature` (hex, as a header carries it) is the MAC of `message` under
/// `secret`, compared in constant time: for senders that send one bare signature.
pub fn verify_hex(signature: &str, secret: &[u8], message: &[&[u8]]) -> bool {
    let mut given = [0_u8; 32];
    hex::decode_to_slice(signature.trim(), &mut given).is_ok() && bool::from(given.ct_eq(&mac(secret, message)))
}

/// How far the time Grafana signed at may be from ours, in seconds, either way.
pub const GRAFANA_TOLERANCE_SECS: u64 = 300;

/// Whether a signature made at `signed_at` (Unix seconds, as the sender claims) is within
/// `tolerance` seconds of `now`, either way. Any number a header carries is compared
/// without overflow.
pub fn signed_within(signed_at: i64, now: i64, tolerance: u64) -> bool {
    now.abs_diff(signed_at) <= tolerance
}

/// Grafana's optional signature (`X-Grafana-Alerting-Signature`): hex HMAC-SHA256 over
/// `[timestamp ":"] body`. A signed timestamp (`X-Grafana-Alerting-Signature-Timestamp`,
/// Unix seconds) must be within [`GRAFANA_TOLERANCE_SECS`] of `now`, so that a captured
/// delivery cannot be replayed later.
pub fn verify_grafana(signature: &str, timestamp: Option<&str>, body: &[u8], secret: &[u8], now: i64) -> bool {
    match timestamp {
        Some(timestamp) => {
            let fresh = timestamp
                .trim()
                .parse::<i64>()
                .is_ok_and(|signed_at| signed_within(signed_at, now, GRAFANA_TOLERANCE_SECS));
            fresh && verify_hex(signature, secret, &[timestamp.as_bytes(), b":", body])
        }
        None => verify_hex(signature, secret, &[body]),
    }
}

/// A timestamped signature header as Stripe makes it, and DreamOps for its own webhooks:
/// `t=<timestamp>,v1=<hex>` with one `v1` per secret, each the HMAC-SHA256 of
/// `"<timestamp>.<body>"` (several while a secret rotates).
pub fn sign_timestamped<'s>(secrets: impl IntoIterator<Item = &'s [u8]>, timestamp: i64, body: &[u8]) -> String {
    let signed_at = timestamp.to_string();
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, &[signed_at.as_bytes(), b".", body]));
    }
    header
}

/// The hex MAC of `message` under `secret`, as a `v1` entry carries it.
pub fn sign(secret: &[u8], message: &[&[u8]]) -> String {
    hex::encode(mac(secret, message))
}

fn mac(secret: &[u8], message: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_v1_under_any_secret_matches_and_other_entries_are_skipped() {
        let body: &[u8] = b"{}";
        let header = format!("t=7,v0={},v1=zz,v1=,v1={}", sign(b"a", &[body]), sign(b"b", &[body]));
        let read = SignatureHeader::read(&header).unwrap();
        assert_eq!(read.timestamp, Some("7"));
        assert!(read.matches_any([b"x".as_slice(), b"b".as_slice()], &[body]));
        assert!(!read.matches_any([b"a".as_slice()], &[body]), "v0 is not a signature we accept");
        assert!(!read.matches_any([b"b".as_slice()], &[b"{ }"]));
        assert!(!read.matches_any([], &[body]));
        assert!(SignatureHeader::read("v1=,v1=zz").unwrap().is_empty());
        assert!(verify_hex(&sign(b"b", &[b"1", b":", body]), b"b", &[b"1:", body]));
        assert!(!verify_hex(&sign(b"b", &[body]), b"a", &[body]));
        assert!(!verify_hex("", b"b", &[body]));
    }

    #[test]
    fn grafana_signs_the_body_or_its_timestamp_and_body_and_old_timestamps_fail() {
        let body: &[u8] = b"{}";
        let now = 1_800_000_000;
        assert!(verify_grafana(&sign(b"g", &[body]), None, body, b"g", now));
        let signed_at = (now - 299).to_string();
        let signature = sign(b"g", &[signed_at.as_bytes(), b":", body]);
        assert!(verify_grafana(&signature, Some(&signed_at), body, b"g", now));
        assert!(!verify_grafana(&signature, Some(&signed_at), body, b"g", now + 2));
        assert!(!verify_grafana(&signature, None, body, b"g", now));
    }

    #[test]
    fn timestamps_at_the_ends_of_the_integers_are_just_old() {
        // Found by the fuzzer: `now - t` overflowed (a panic where overflow is checked).
        for signed_at in [i64::MIN, i64::MIN + 1, i64::MAX] {
            assert!(!signed_within(signed_at, 1_800_000_000, 300));
            assert!(!verify_grafana("00", Some(&signed_at.to_string()), b"{}", b"g", 1_800_000_000));
        }
        assert!(signed_within(i64::MAX, i64::MAX - 300, 300));
    }

    #[test]
    fn headers_over_the_bounds_are_refused_before_any_mac() {
        // The reproduction: 8,000 empty `v1=` entries once cost one MAC of the body each.
        assert_eq!(SignatureHeader::read(&"v1=,".repeat(8_000)).unwrap_err(), Oversized::TooLong);
        assert_eq!(SignatureHeader::read(&"x".repeat(100 * 1024)).unwrap_err(), Oversized::TooLong);
        let signature = sign(b"s", &[b"{}"]);
        let many = vec![format!("v1={signature}"); MAX_SIGNATURES + 1].join(",");
        assert!(many.len() <= MAX_HEADER_BYTES);
        assert_eq!(SignatureHeader::read(&many).unwrap_err(), Oversized::TooManySignatures);
        let most = vec![format!("v1={signature}"); MAX_SIGNATURES].join(",");
        assert!(SignatureHeader::read(&most).unwrap().matches_any([b"s".as_slice()], &[b"{}"]));
    }
}
