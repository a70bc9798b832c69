//! Unique ids and access keys in AWS's formats.
//!
//! Access key ids (`AKIA…`, `ASIA…`) carry the account, as AWS's do, so that
//! `GetAccessKeyInfo`-style tooling can tell the account from a key: the 16
//! characters after the prefix are the base32 form of 10 bytes whose first six
//! hold `(account << 7) | r` (r: 7 random bits), the rest random. Entity ids
//! (`AROA…`, `ANPA…`) are 21 characters of base32, random.

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A source of random bytes; the service passes aws-lc-rs's system RNG, tests a seeded one.
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// Entity id prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `AROA`: roles.
    Role,
    /// `ANPA`: managed policies.
    Policy,
    /// `AIDA`: users.
    User,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Role => "AROA",
            IdKind::Policy => "ANPA",
            IdKind::User => "AIDA",
        }
    }
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = BASE32.iter().position(|&b| b == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// A new entity id: prefix + 17 base32 characters (21 in all).
pub fn entity_id(kind: IdKind, rng: &mut dyn Random) -> String {
    let mut b = [0u8; 11];
    rng.fill(&mut b);
    let mut s = String::from(kind.prefix());
    s.extend(base32(&b).chars().take(17));
    s
}

/// Long-term (`AKIA`) or temporary (`ASIA`) access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `AKIA`: long-term keys.
    LongTerm,
    /// `ASIA`: keys of temporary (STS) credentials.
    Temporary,
}

/// A new access key id for `account` (a 12-digit id).
pub fn access_key_id(kind: KeyKind, account: u64, rng: &mut dyn Random) -> String {
    let mut b = [0u8; 10];
    rng.fill(&mut b);
    let head = ((account & 0xff_ffff_ffff) << 7) | u64::from(b[0] & 0x7f);
    b[..6].copy_from_slice(&head.to_be_bytes()[2..]);
    let prefix = match kind {
        KeyKind::LongTerm => "AKIA",
        KeyKind::Temporary => "ASIA",
    };
    format!("{prefix}{}", base32(&b))
}

/// The account an access key id was issued for, as `GetAccessKeyInfo` reads it.
pub fn account_of_access_key(key: &str) -> Option<u64> {
    let body = key.get(4..)?;
    if body.len() != 16 {
        return None;
    }
    let bytes = base32_decode(body)?;
    let mut head = [0u8; 8];
    head[2..].copy_from_slice(bytes.get(..6)?);
    Some((u64::from_be_bytes(head) >> 7) & 0xff_ffff_ffff)
}

/// A new 40-character secret access key.
pub fn secret_access_key(rng: &mut dyn Random) -> String {
    let mut b = [0u8; 40];
    rng.fill(&mut b);
    b.iter().map(|x| SECRET_ALPHABET[(x & 63) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic generator for tests (xorshift).
    pub(crate) struct Seeded(pub u64);

    impl Random for Seeded {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = (self.0 >> 24) as u8;
            }
        }
    }

    #[test]
    fn access_keys_carry_the_account() {
        let mut r = Seeded(7);
        for account in [0u64, 1, 111_122_223_333, 999_999_999_999, 123_456_789_012] {
            let k = access_key_id(KeyKind::Temporary, account, &mut r);
            assert_eq!(k.len(), 20);
            assert!(k.starts_with("ASIA"));
            assert!(k[4..].bytes().all(|c| BASE32.contains(&c)));
            assert_eq!(account_of_access_key(&k), Some(account), "{k}");
        }
    }

    #[test]
    fn a_published_aws_key_decodes_to_its_account() {
        // The example key from AWS's documentation of GetAccessKeyInfo decodes
        // with the same rule (checked against the public write-ups of the format).
        assert_eq!(account_of_access_key("ASIAY34FZKBOKMUTVV7A"), Some(609_629_065_308));
    }

    #[test]
    fn ids_and_secrets_have_aws_shapes() {
        let mut r = Seeded(42);
        let id = entity_id(IdKind::Role, &mut r);
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("AROA"));
        let s = secret_access_key(&mut r);
        assert_eq!(s.len(), 40);
        assert_ne!(entity_id(IdKind::Policy, &mut r), entity_id(IdKind::Policy, &mut r));
    }
}
