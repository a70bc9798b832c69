//! The canonical request, built from the request as received, by AWS's rules for services
//! other than S3:
//!
//! ```text
//! METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//! ```
//!
//! * URI: the raw (already percent-encoded) path, dot segments and empty segments removed
//!   (RFC 3986 §5.2.4, as AWS SDKs do), then percent-encoded again byte by byte, keeping only
//!   the unreserved characters `A-Z a-z 0-9 - _ . ~` and `/` (so `%` becomes `%25`: the path is
//!   "double-encoded"). An empty path is `/`.
//! * Query: every parameter decoded (`%XX` and `+` as a space, the `application/x-www-form-urlencoded`
//!   rules SDKs use when they parse a URI) and re-encoded with the unreserved set, sorted by encoded
//!   name then encoded value, `name=value` joined by `&` (`name=` for an empty value). Presigned
//!   requests leave out `X-Amz-Signature`.
//! * Headers: the signed ones only, in `SignedHeaders` order, `name:value\n` with the lower-case
//!   name; every line of a repeated header is trimmed, runs of spaces inside are collapsed to one,
//!   and the lines are joined with `,`.

use std::fmt::Write as _;

use crate::error::{Error, Mismatch};
use crate::request::Request;

/// `true` for the characters RFC 3986 calls unreserved, the only ones SigV4 leaves as they are.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `bytes` percent-encoded (upper-case hex), keeping unreserved characters and, when
/// `keep_slash`, `/`.
pub(crate) fn uri_encode_into(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX_UPPER[usize::from(b >> 4)], HEX_UPPER[usize::from(b & 0xf)]]);
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stays as it is.
pub(crate) fn form_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    s.get(i + 1).copied().and_then(hex_val),
                    s.get(i + 2).copied().and_then(hex_val),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The query's parameters, decoded, in order. Empty `&`-separated pieces are skipped; a piece
/// without `=` is a name with an empty value.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|piece| {
            let (k, v) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &[][..]),
            };
            (form_decode(k), form_decode(v))
        })
}

/// The canonical URI for a non-S3 service (normalised, then encoded once more).
pub(crate) fn canonical_uri(path: &str, out: &mut Vec<u8>) {
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    let needs_normalising =
        path.contains("//") || path.split('/').any(|s| s == "." || s == "..") || !path.starts_with('/');
    if !needs_normalising {
        uri_encode_into(out, path.as_bytes(), true);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalised = String::with_capacity(path.len() + 1);
    for s in &segments {
        normalised.push('/');
        normalised.push_str(s);
    }
    // RFC 3986 §5.2.4 keeps a trailing slash, also the one a final "." or ".." stands for.
    let trailing = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if normalised.is_empty() || trailing {
        normalised.push('/');
    }
    uri_encode_into(out, normalised.as_bytes(), true);
}

/// The canonical query string; `skip_signature` leaves out `X-Amz-Signature` (presigned form).
pub(crate) fn canonical_query(query: &str, skip_signature: bool, out: &mut Vec<u8>) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query_pairs(query)
        .filter(|(k, _)| !(skip_signature && k == b"X-Amz-Signature"))
        .map(|(k, v)| {
            let mut ek = Vec::with_capacity(k.len());
            uri_encode_into(&mut ek, &k, false);
            let mut ev = Vec::with_capacity(v.len());
            uri_encode_into(&mut ev, &v, false);
            (ek, ev)
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
}

/// How header values are tidied before signing. AWS's rule (and the Rust and Java SDKs') trims
/// spaces and collapses runs of spaces; botocore treats every ASCII whitespace character that way
/// (Python's `str.split()`). The two agree unless a value holds a tab or another control
/// whitespace, and only then does the verifier try the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Whitespace {
    Spaces,
    AllAscii,
}

impl Whitespace {
    fn is_ws(self, b: u8) -> bool {
        match self {
            Whitespace::Spaces => b == b' ',
            Whitespace::AllAscii => matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f),
        }
    }
}

/// Appends a header value trimmed, with inner whitespace runs collapsed to one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8], ws: Whitespace) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if ws.is_ws(b) {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// `true` when some signed header's value would canonicalise differently under botocore's rule.
pub(crate) fn has_exotic_whitespace(req: &Request<'_>, signed: &[&str]) -> bool {
    signed.iter().any(|name| {
        req.header_values(name)
            .any(|v| v.iter().any(|&b| b != b' ' && Whitespace::AllAscii.is_ws(b)))
    })
}

/// Appends the canonical headers block (each `name:value\n`) for the signed header names.
pub(crate) fn canonical_headers(
    req: &Request<'_>,
    signed: &[&str],
    ws: Whitespace,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut any = false;
        for value in req.header_values(name) {
            if any {
                out.push(b',');
            }
            push_trimmed(out, value, ws);
            any = true;
        }
        if !any {
            return Err(Error::SignatureDoesNotMatch(Mismatch::SignedHeaderMissing(
                (*name).to_owned(),
            )));
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(p: &str) -> String {
        let mut out = Vec::new();
        canonical_uri(p, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn query(q: &str, skip: bool) -> String {
        let mut out = Vec::new();
        canonical_query(q, skip, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn uri_normalisation_and_double_encoding() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//"), "/");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/./example"), "/example");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/example1/example2/../.."), "/");
        assert_eq!(uri("/example/./"), "/example/");
        assert_eq!(uri("/a/b/."), "/a/b/");
        assert_eq!(uri("/../x"), "/x");
        assert_eq!(uri("relative/x"), "/relative/x");
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(uri("/JBDvjfGEIAMCERw%3D"), "/JBDvjfGEIAMCERw%253D");
        assert_eq!(uri("/test/@connections"), "/test/%40connections");
        assert_eq!(uri("/\u{1234}"), "/%E1%88%B4");
        assert_eq!(uri("/-._~AZaz09"), "/-._~AZaz09");
        assert_eq!(uri("/a..b/.c"), "/a..b/.c");
    }

    #[test]
    fn query_canonicalisation() {
        assert_eq!(query("", false), "");
        assert_eq!(
            query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1", false),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
        assert_eq!(query("b=2&a=2&a=1", false), "a=1&a=2&b=2");
        assert_eq!(query("Param1", false), "Param1=");
        assert_eq!(query("a=b c&d=e+f&g=%7e&h=%7E", false), "a=b%20c&d=e%20f&g=~&h=~");
        assert_eq!(query("&&a=1&", false), "a=1");
        assert_eq!(query("x=%zz&y=%4", false), "x=%25zz&y=%254");
        assert_eq!(query("x=a=b", false), "x=a%3Db");
        assert_eq!(query("X-Amz-Signature=abc&a=1", true), "a=1");
        assert_eq!(query("X-Amz-Signature=abc&a=1", false), "X-Amz-Signature=abc&a=1");
        // Sorted by the encoded name: "%" (0x25) sorts before letters.
        assert_eq!(query("a=1&%21=2", false), "%21=2&a=1");
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let req = Request::new("GET", "/")
            .header("My-Header1", "  value1   value2  ")
            .header("my-header1", "value3")
            .header("My-Header2", "\"a   b   c\"")
            .header("x-tab", "a\t\tb ");
        let mut out = Vec::new();
        canonical_headers(&req, &["my-header1", "my-header2"], Whitespace::Spaces, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "my-header1:value1 value2,value3\nmy-header2:\"a b c\"\n"
        );
        let mut out = Vec::new();
        canonical_headers(&req, &["x-tab"], Whitespace::Spaces, &mut out).unwrap();
        assert_eq!(out, b"x-tab:a\t\tb\n");
        let mut out = Vec::new();
        canonical_headers(&req, &["x-tab"], Whitespace::AllAscii, &mut out).unwrap();
        assert_eq!(out, b"x-tab:a b\n");
        assert!(has_exotic_whitespace(&req, &["x-tab"]));
        assert!(!has_exotic_whitespace(&req, &["my-header1"]));
        let err = canonical_headers(&req, &["absent"], Whitespace::Spaces, &mut Vec::new()).unwrap_err();
        assert_eq!(err.aws_code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn empty_header_value() {
        let req = Request::new("GET", "/").header("x-empty", "   ");
        let mut out = Vec::new();
        canonical_headers(&req, &["x-empty"], Whitespace::Spaces, &mut out).unwrap();
        assert_eq!(out, b"x-empty:\n");
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode(b"a+b%20c%2B"), b"a b c+");
        assert_eq!(form_decode(b"%"), b"%");
        assert_eq!(form_decode(b"%4"), b"%4");
        assert_eq!(form_decode(b"%ff"), vec![0xff]);
    }
}
