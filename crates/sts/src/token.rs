//! Sealed session tokens.
//!
//! Wire form (standard base64): `version (1) | key id (4, big endian) |
//! nonce (12) | AES-256-GCM(claims JSON) with tag (16)`. The additional
//! authenticated data is `version | key id | access key id`, so a token only
//! opens together with the access key id it was issued with. Keys rotate: the
//! ring seals with its newest key and opens with any key it still holds.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const TAG_LEN: usize = 16;
/// Tokens longer than this are not even decoded (AWS's are a few kilobytes).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a session token was refused. Every variant means the same to a client
/// (`InvalidClientTokenId`): the distinction is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64, too short or too long.
    #[error("the session token is malformed")]
    Malformed,
    /// A format version this build does not know.
    #[error("the session token has an unknown version {0}")]
    UnknownVersion(u8),
    /// Sealed with a key the ring no longer (or never) held.
    #[error("the session token was sealed with unknown key {0}")]
    UnknownKey(u32),
    /// Authentication failed: forged, altered, or paired with another access key id.
    #[error("the session token does not authenticate")]
    Forged,
    /// The sealed claims do not parse.
    #[error("the session token's claims are unreadable")]
    BadClaims,
    /// The ring could not seal (no key, or the crypto library failed).
    #[error("cannot seal a session token: {0}")]
    Seal(&'static str),
}

/// One key of the ring.
#[derive(Clone, Serialize, Deserialize)]
pub struct RingKey {
    /// Identifies the key in tokens.
    pub id: u32,
    /// 32 bytes, base64.
    pub secret: String,
    /// When the key was created, seconds since the epoch.
    pub created: i64,
}

impl std::fmt::Debug for RingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("RingKey")
            .field("id", &self.id)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl RingKey {
    /// A new random key.
    pub fn generate(id: u32, created: i64) -> Result<RingKey, TokenError> {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| TokenError::Seal("the system random generator failed"))?;
        Ok(RingKey {
            id,
            secret: STANDARD.encode(k),
            created,
        })
    }
}

struct LoadedKey {
    id: u32,
    key: RandomizedNonceKey,
}

/// The keys that seal and open tokens; the newest (highest id) seals.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.iter().map(|k| k.id).collect::<Vec<_>>())
            .finish()
    }
}

/// What a key ring could not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// The ring has no keys.
    #[error("the session key ring is empty")]
    Empty,
    /// A key is not 32 bytes of base64.
    #[error("session key {0} is not 32 bytes of base64")]
    BadKey(u32),
    /// Two keys share an id.
    #[error("two session keys have id {0}")]
    DuplicateId(u32),
}

impl KeyRing {
    /// Loads keys; the one with the highest id seals.
    pub fn new(keys: &[RingKey]) -> Result<KeyRing, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut loaded: Vec<LoadedKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if loaded.iter().any(|l| l.id == k.id) {
                return Err(KeyRingError::DuplicateId(k.id));
            }
            let bytes = STANDARD.decode(&k.secret).map_err(|_| KeyRingError::BadKey(k.id))?;
            if bytes.len() != 32 {
                return Err(KeyRingError::BadKey(k.id));
            }
            let key = RandomizedNonceKey::new(&AES_256_GCM, &bytes).map_err(|_| KeyRingError::BadKey(k.id))?;
            loaded.push(LoadedKey { id: k.id, key });
        }
        loaded.sort_by_key(|k| std::cmp::Reverse(k.id));
        Ok(KeyRing { keys: loaded })
    }

    /// The id of the sealing key.
    pub fn current_id(&self) -> Option<u32> {
        self.keys.first().map(|k| k.id)
    }

    fn aad(key_id: u32, access_key_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(5 + access_key_id.len());
        aad.push(VERSION);
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad.extend_from_slice(access_key_id.as_bytes());
        aad
    }

    /// Seals `claims` into a token bound to `access_key_id`.
    pub fn seal<T: Serialize>(&self, access_key_id: &str, claims: &T) -> Result<String, TokenError> {
        let current = self.keys.first().ok_or(TokenError::Seal("the key ring is empty"))?;
        let mut body = serde_json::to_vec(claims).map_err(|_| TokenError::Seal("claims do not serialise"))?;
        let nonce = current
            .key
            .seal_in_place_append_tag(Aad::from(Self::aad(current.id, access_key_id)), &mut body)
            .map_err(|_| TokenError::Seal("AES-GCM sealing failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&current.id.to_be_bytes());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(STANDARD.encode(out))
    }

    /// Opens a token presented with `access_key_id`.
    pub fn open<T: for<'de> Deserialize<'de>>(&self, access_key_id: &str, token: &str) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut raw = STANDARD.decode(token.trim()).map_err(|_| TokenError::Malformed)?;
        if raw.len() < HEADER_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        if raw[0] != VERSION {
            return Err(TokenError::UnknownVersion(raw[0]));
        }
        let key_id = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]);
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or(TokenError::UnknownKey(key_id))?;
        let nonce = Nonce::try_assume_unique_for_key(&raw[5..HEADER_LEN]).map_err(|_| TokenError::Malformed)?;
        let plain = key
            .key
            .open_in_place(
                nonce,
                Aad::from(Self::aad(key_id, access_key_id)),
                &mut raw[HEADER_LEN..],
            )
            .map_err(|_| TokenError::Forged)?;
        serde_json::from_slice(plain).map_err(|_| TokenError::BadClaims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        role: String,
        exp: i64,
    }

    fn ring(ids: &[u32]) -> (KeyRing, Vec<RingKey>) {
        let keys: Vec<RingKey> = ids.iter().map(|&i| RingKey::generate(i, 0).unwrap()).collect();
        (KeyRing::new(&keys).unwrap(), keys)
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let (r, _) = ring(&[1]);
        let c = Claims {
            role: "arn:aws:iam::111122223333:role/r".into(),
            exp: 42,
        };
        let t = r.seal("ASIAAAAAAAAAAAAAAAAA", &c).unwrap();
        assert_eq!(r.open::<Claims>("ASIAAAAAAAAAAAAAAAAA", &t).unwrap(), c);
        assert_eq!(
            r.open::<Claims>("ASIABBBBBBBBBBBBBBBB", &t).unwrap_err(),
            TokenError::Forged
        );
        assert_ne!(t, r.seal("ASIAAAAAAAAAAAAAAAAA", &c).unwrap(), "nonces must differ");
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_the_key_is_dropped() {
        let (old, old_keys) = ring(&[1]);
        let t = old
            .seal(
                "ASIAX",
                &Claims {
                    role: "r".into(),
                    exp: 1,
                },
            )
            .unwrap();
        let mut keys = old_keys.clone();
        keys.push(RingKey::generate(2, 1).unwrap());
        let rotated = KeyRing::new(&keys).unwrap();
        assert_eq!(rotated.current_id(), Some(2));
        assert!(rotated.open::<Claims>("ASIAX", &t).is_ok());
        let t2 = rotated
            .seal(
                "ASIAX",
                &Claims {
                    role: "r".into(),
                    exp: 1,
                },
            )
            .unwrap();
        assert_eq!(old.open::<Claims>("ASIAX", &t2).unwrap_err(), TokenError::UnknownKey(2));
        let dropped = KeyRing::new(&keys[1..]).unwrap();
        assert_eq!(
            dropped.open::<Claims>("ASIAX", &t).unwrap_err(),
            TokenError::UnknownKey(1)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let (r, _) = ring(&[7]);
        let t = r
            .seal(
                "ASIAX",
                &Claims {
                    role: "r".into(),
                    exp: 1,
                },
            )
            .unwrap();
        let mut raw = STANDARD.decode(&t).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            let e = r.open::<Claims>("ASIAX", &STANDARD.encode(&raw)).unwrap_err();
            assert!(
                matches!(
                    e,
                    TokenError::Forged | TokenError::UnknownKey(_) | TokenError::UnknownVersion(_)
                ),
                "{i}: {e}"
            );
            raw[i] ^= 1;
        }
        for bad in ["", "!!!", "AAAA", &"A".repeat(MAX_TOKEN_LEN + 4)] {
            assert_eq!(r.open::<Claims>("ASIAX", bad).unwrap_err(), TokenError::Malformed);
        }
    }

    #[test]
    fn bad_rings_are_refused() {
        assert_eq!(KeyRing::new(&[]).unwrap_err(), KeyRingError::Empty);
        let k = RingKey::generate(1, 0).unwrap();
        assert_eq!(
            KeyRing::new(&[k.clone(), k.clone()]).unwrap_err(),
            KeyRingError::DuplicateId(1)
        );
        let short = RingKey {
            secret: STANDARD.encode([0u8; 16]),
            ..k
        };
        assert_eq!(KeyRing::new(&[short]).unwrap_err(), KeyRingError::BadKey(1));
        assert!(!format!("{:?}", RingKey::generate(3, 0).unwrap()).contains("secret"));
    }
}
