//! PhonePe's `X-VERIFY` checksum: the SHA-256 (hex) of what is signed — the base64
//! payload, then the API endpoint, then the salt key — followed by `###` and the salt
//! key's index. A request's payload is its base64 body and its endpoint its path (a GET
//! has no payload); a server-to-server callback signs its base64 `response` with no
//! endpoint.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The longest `X-VERIFY` header looked at: 64 hex characters, `###` and an index.
const MAX_HEADER: usize = 80;

/// The checksum of `payload` sent to `endpoint`, made with `salt_key` (index `salt_index`).
pub fn x_verify(payload: &str, endpoint: &str, salt_key: &str, salt_index: u32) -> String {
    format!("{}###{salt_index}", digest(payload, endpoint, salt_key))
}

fn digest(payload: &str, endpoint: &str, salt_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(payload.as_bytes());
    hasher.update(endpoint.as_bytes());
    hasher.update(salt_key.as_bytes());
    hex::encode(hasher.finalize())
}

/// Why a checksum was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the X-VERIFY header is missing")]
    Missing,
    #[error("the X-VERIFY header is not a checksum followed by ### and a salt index")]
    Malformed,
    #[error("the X-VERIFY header names a salt index this merchant does not use")]
    UnknownIndex,
    #[error("the X-VERIFY checksum does not match")]
    Mismatch,
}

/// Checks `header` against `payload` and `endpoint` with the merchant's salt key.
/// Bounded work: a long header is refused before anything is hashed, and the comparison
/// takes the same time wherever the checksums differ.
pub fn verify(
    header: Option<&str>,
    payload: &str,
    endpoint: &str,
    salt_key: &str,
    salt_index: u32,
) -> Result<(), Refused> {
    let header = header.ok_or(Refused::Missing)?.trim();
    if header.len() > MAX_HEADER {
        return Err(Refused::Malformed);
    }
    let (checksum, index) = header.split_once("###").ok_or(Refused::Malformed)?;
    if checksum.len() != 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refused::Malformed);
    }
    if index.parse::<u32>().map_err(|_| Refused::Malformed)? != salt_index {
        return Err(Refused::UnknownIndex);
    }
    let expected = digest(payload, endpoint, salt_key);
    if bool::from(expected.as_bytes().ct_eq(checksum.to_ascii_lowercase().as_bytes())) {
        Ok(())
    } else {
        Err(Refused::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of PhonePe's checksum documentation: the base64 payload, the
    /// endpoint and the salt key concatenated, hashed, with `###1` after.
    #[test]
    fn the_checksum_is_sha256_of_payload_endpoint_and_salt_with_the_index_after() {
        let payload = "eyJtZXJjaGFudElkIjoiUEdURVNUUEFZVUFUIn0=";
        let made = x_verify(payload, "/pg/v1/pay", "salt-key", 1);
        let by_hand = hex::encode(Sha256::digest(format!("{payload}/pg/v1/pay{}", "salt-key")));
        assert_eq!(made, format!("{by_hand}###1"));
        assert_eq!(verify(Some(&made), payload, "/pg/v1/pay", "salt-key", 1), Ok(()));
        assert_eq!(verify(Some(&made.to_uppercase()), payload, "/pg/v1/pay", "salt-key", 1), Ok(()));
    }

    #[test]
    fn a_changed_payload_endpoint_key_or_index_is_refused() {
        let made = x_verify("cGF5bG9hZA==", "", "salt-key", 2);
        assert_eq!(verify(Some(&made), "cGF5bG9hZA==", "", "salt-key", 2), Ok(()));
        assert_eq!(verify(Some(&made), "cGF5bG9hZB==", "", "salt-key", 2), Err(Refused::Mismatch));
        assert_eq!(verify(Some(&made), "cGF5bG9hZA==", "/pg/v1/pay", "salt-key", 2), Err(Refused::Mismatch));
        assert_eq!(verify(Some(&made), "cGF5bG9hZA==", "", "other-key", 2), Err(Refused::Mismatch));
        assert_eq!(verify(Some(&made), "cGF5bG9hZA==", "", "salt-key", 1), Err(Refused::UnknownIndex));
        assert_eq!(verify(None, "cGF5bG9hZA==", "", "salt-key", 2), Err(Refused::Missing));
        for malformed in ["", "###2", "abc###2", &made.replace("###", "##"), &format!("{made}{}", "0".repeat(100))] {
            assert_eq!(
                verify(Some(malformed), "cGF5bG9hZA==", "", "salt-key", 2),
                Err(Refused::Malformed),
                "{malformed}"
            );
        }
    }
}
