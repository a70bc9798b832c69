//! Typed readings of condition values and the wildcard matcher.
//!
//! Everything here is shared by the validator (is this value well formed?) and
//! the evaluator (does the request's value match?), so both read values alike.

use irsa_calendar::{days_from_civil, days_in_month};
use std::net::IpAddr;

/// Reads an IAM numeric value (integer or decimal).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') || body.matches('.').count() > 1 {
        return None;
    }
    if body.starts_with('.') || body.ends_with('.') {
        return None;
    }
    t.parse::<f64>().ok()
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Reads a date the way IAM's Date operators do: W3C ISO 8601 forms
/// (`2020-01-01`, `2020-01-01T12:00Z`, `2020-01-01T12:00:00.123+02:00`) or
/// epoch seconds. Returns milliseconds since the epoch, UTC.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    if let Some((int, frac)) = s.split_once('.')
        && !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let secs: f64 = s.parse().ok()?;
        return Some((secs * 1000.0) as i64);
    }
    let (date, time) = match s.split_once(['T', 't']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y = num(dp.next()?, 4)?;
    let m = num(dp.next()?, 2)?;
    let d = num(dp.next()?, 2)?;
    if dp.next().is_some() || !(1..=12).contains(&m) {
        return None;
    }
    // `m` is 1..=12 here and `d` two digits, so the casts cannot wrap.
    let (m, d) = (m as u32, d as u32);
    if d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if let Some(t) = time {
        let (clock, offset_ms) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else if let Some(i) = t.rfind(['+', '-']) {
            let (c, off) = t.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let off = &off[1..];
            let (oh, om) = match off.split_once(':') {
                Some((h, m)) => (num(h, 2)?, num(m, 2)?),
                None if off.len() == 4 => (num(&off[..2], 2)?, num(&off[2..], 2)?),
                None => (num(off, 2)?, 0),
            };
            if oh > 23 || om > 59 {
                return None;
            }
            (c, sign * (oh * 3600 + om * 60) * 1000)
        } else {
            (t, 0)
        };
        let mut cp = clock.split(':');
        let h = num(cp.next()?, 2)?;
        let mi = num(cp.next()?, 2)?;
        let (sec, frac_ms) = match cp.next() {
            None => (0, 0),
            Some(sf) => {
                let (sec, frac) = match sf.split_once('.') {
                    Some((a, b)) => (a, Some(b)),
                    None => (sf, None),
                };
                let sec = num(sec, 2)?;
                let frac_ms = match frac {
                    None => 0,
                    Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                        let mut digits: String = f.chars().take(3).collect();
                        while digits.len() < 3 {
                            digits.push('0');
                        }
                        digits.parse::<i64>().ok()?
                    }
                    Some(_) => return None,
                };
                (sec, frac_ms)
            }
        };
        if cp.next().is_some() || h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi > 0 || sec > 0)) {
            return None;
        }
        ms += ((h * 60 + mi) * 60 + sec) * 1000 + frac_ms - offset_ms;
    }
    Some(ms)
}

/// A CIDR block; a bare address is a /32 (or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

pub(crate) fn parse_cidr(s: &str) -> Option<Cidr> {
    let s = s.trim();
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u8>().ok()?,
        Some(_) => return None,
        None => max,
    };
    (prefix <= max).then_some(Cidr { addr, prefix })
}

impl Cidr {
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v) => u128::from(u32::from(v)) << 96,
                IpAddr::V6(v) => u128::from(v),
            }
        };
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => ip,
            // An IPv4-mapped IPv6 address is the IPv4 address it carries.
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        if self.prefix == 0 {
            return true;
        }
        let shift = 128 - u32::from(self.prefix);
        (bits(self.addr) >> shift) == (bits(ip) >> shift)
    }
}

/// One unit of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// Bytes that must appear as they are.
    Lit(Box<str>),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Appends `text` to `out`, reading `*` and `?` as wildcards.
pub(crate) fn push_pattern(out: &mut Vec<Glob>, text: &str) {
    let mut lit = String::new();
    for c in text.chars() {
        match c {
            '*' | '?' => {
                if !lit.is_empty() {
                    push_literal(out, &std::mem::take(&mut lit));
                }
                // Consecutive stars are one star.
                if !(c == '*' && out.last() == Some(&Glob::Star)) {
                    out.push(if c == '*' { Glob::Star } else { Glob::One });
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        push_literal(out, &lit);
    }
}

/// Appends `text` to `out` as literal characters (no wildcards).
pub(crate) fn push_literal(out: &mut Vec<Glob>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Glob::Lit(prev)) = out.last_mut() {
        let mut s = prev.to_string();
        s.push_str(text);
        *prev = s.into_boxed_str();
    } else {
        out.push(Glob::Lit(text.into()));
    }
}

pub(crate) fn pattern(text: &str) -> Vec<Glob> {
    let mut v = Vec::new();
    push_pattern(&mut v, text);
    v
}

fn char_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Wildcard match of `s` against `pat`, linear in practice: on a mismatch only
/// the most recent `*` is retried, which is enough because a later star can
/// absorb whatever an earlier one would have.
pub(crate) fn glob_match(pat: &[Glob], s: &str) -> bool {
    let sb = s.as_bytes();
    let (mut p, mut i) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None; // (pattern index after star, text index)
    loop {
        if p < pat.len() {
            match &pat[p] {
                Glob::Star => {
                    p += 1;
                    if p == pat.len() {
                        return true;
                    }
                    back = Some((p, i));
                    continue;
                }
                Glob::One if i < sb.len() => {
                    i += char_len(sb[i]);
                    p += 1;
                    continue;
                }
                Glob::Lit(l) if sb[i.min(sb.len())..].starts_with(l.as_bytes()) => {
                    i += l.len();
                    p += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == sb.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more character.
        match back {
            Some((bp, bi)) if bi < sb.len() => {
                let ni = bi + char_len(sb[bi]);
                back = Some((bp, ni));
                p = bp;
                i = ni;
            }
            _ => return false,
        }
    }
}

/// Whether a pattern has no wildcard at all (so equality will do).
pub(crate) fn literal_of(pat: &[Glob]) -> Option<&str> {
    match pat {
        [] => Some(""),
        [Glob::Lit(l)] => Some(l),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        let m = |p: &str, s: &str| glob_match(&pattern(p), s);
        assert!(m("*", ""));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a?c", "abc"));
        assert!(m("a?c", "aéc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("s3:Get*", "s3:GetObject"));
        assert!(!m("s3:Get*", "s3:PutObject"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("a**b", "ab"));
        assert!(m("*ab", "aab"));
        assert!(m("*aab", "aaab"));
    }

    #[test]
    fn glob_literal_wildcards() {
        let mut p = Vec::new();
        push_pattern(&mut p, "a");
        push_literal(&mut p, "*");
        assert!(glob_match(&p, "a*"));
        assert!(!glob_match(&p, "ab"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_date("2020-01-01"), parse_date("2020-01-01T00:00:00Z"));
        assert_eq!(
            parse_date("2020-01-01T02:00:00+02:00"),
            parse_date("2020-01-01T00:00:00Z")
        );
        assert_eq!(parse_date("2020-01-01T00:00Z"), parse_date("2020-01-01T00:00:00.000Z"));
        assert_eq!(parse_date("2020-01-01T00:00:00.5Z"), Some(1_577_836_800_500));
        assert_eq!(
            parse_date("2024-02-29"),
            Some(days_from_civil(2024, 2, 29) * 86_400_000)
        );
        for bad in [
            "2023-02-29",
            "2020-13-01",
            "2020-1-1",
            "yesterday",
            "",
            "2020-01-01T25:00Z",
            "2020-01-01T00:00:00+2",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.7".parse().unwrap()));
        assert!(!c.contains("203.0.114.7".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.9".parse().unwrap()));
        let c6 = parse_cidr("2001:db8::/32").unwrap();
        assert!(c6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!c6.contains("2001:db9::1".parse().unwrap()));
        assert!(!c6.contains("10.0.0.1".parse().unwrap()));
        assert!(parse_cidr("10.0.0.1").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert!(parse_cidr("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0/8").is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        assert_eq!(parse_number("1e3"), None);
        assert_eq!(parse_number("ten"), None);
        assert_eq!(parse_number("1."), None);
    }
}
