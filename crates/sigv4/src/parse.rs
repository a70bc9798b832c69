//! Parsing the two places a SigV4 signature can be: the `Authorization` header and the
//! presigned query string. Parsing checks syntax only; the verifier applies the policy (clock,
//! scope, expiry).

use crate::error::Error;
use crate::request::Request;

/// The only algorithm this verifier implements.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The raw signature parts, from either form, before any policy check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawAuth {
    pub(crate) presigned: Option<String>, // X-Amz-Expires, raw
    pub(crate) credential: String,
    pub(crate) signed_headers: String,
    pub(crate) signature: String,
    /// The date's raw text and whether it came from a `Date` header (which may be an IMF-fixdate).
    pub(crate) date: String,
    pub(crate) date_from_date_header: bool,
    pub(crate) session_token: Option<String>,
}

const PRESIGN_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
];

/// Finds and parses the signature in either form.
pub(crate) fn parse(req: &Request<'_>, max_authorization_len: usize) -> Result<RawAuth, Error> {
    let mut authorization = req.header_values("authorization");
    let first = authorization.next();
    if first.is_some() && authorization.next().is_some() {
        return Err(Error::incomplete(
            "The request has more than one 'Authorization' header.",
        ));
    }
    // Presigned query parameters, decoded: [value] per known name.
    let mut presign: [Option<Vec<u8>>; 7] = Default::default();
    let mut duplicated: Option<&str> = None;
    for (k, v) in crate::canonical::query_pairs(req.query) {
        if let Some(i) = PRESIGN_PARAMS.iter().position(|p| p.as_bytes() == k.as_slice()) {
            if presign[i].is_some() {
                duplicated.get_or_insert(PRESIGN_PARAMS[i]);
            }
            presign[i] = Some(v);
        }
    }
    let is_presigned = presign[..3].iter().any(Option::is_some);
    match (first, is_presigned) {
        (None, false) => Err(Error::MissingAuthenticationToken),
        (Some(_), true) => Err(Error::incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header \
             should be specified",
        )),
        (Some(value), false) => parse_header(req, value, max_authorization_len),
        (None, true) => {
            if let Some(name) = duplicated {
                return Err(Error::incomplete(format!(
                    "The query-string parameter '{name}' appears more than once."
                )));
            }
            parse_presigned(presign)
        }
    }
}

fn utf8(value: &[u8], what: &str) -> Result<String, Error> {
    String::from_utf8(value.to_vec()).map_err(|_| Error::incomplete(format!("{what} is not valid UTF-8.")))
}

fn parse_header(req: &Request<'_>, value: &[u8], max_len: usize) -> Result<RawAuth, Error> {
    if value.len() > max_len {
        return Err(Error::incomplete(format!(
            "The Authorization header is {} bytes long; at most {max_len} are accepted.",
            value.len()
        )));
    }
    let auth = utf8(value, "The Authorization header")?;
    let trimmed = auth.trim_matches(|c: char| c == ' ' || c == '\t');
    let (algorithm, rest) = match trimmed.find([' ', '\t']) {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    };
    if algorithm != ALGORITHM && algorithm.starts_with("AWS4-") {
        return Err(Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now)."
        )));
    }
    let mut credential: Option<&str> = None;
    let mut signed_headers: Option<&str> = None;
    let mut signature: Option<&str> = None;
    if algorithm == ALGORITHM {
        for piece in rest.split(',') {
            let piece = piece.trim_matches(|c: char| c == ' ' || c == '\t');
            if piece.is_empty() {
                continue;
            }
            let Some((key, val)) = piece.split_once('=') else {
                return Err(Error::incomplete(format!(
                    "'{piece}' not a valid key=value pair (missing equal-sign) in Authorization header: '{auth}'."
                )));
            };
            let slot = match key.trim_end() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::incomplete(format!(
                    "'{}' appears more than once in Authorization header: '{auth}'.",
                    key.trim_end()
                )));
            }
            *slot = Some(val.trim_start());
        }
    }
    let mut x_amz_date = req.header_values("x-amz-date");
    let (date, date_from_date_header) = match x_amz_date.next() {
        Some(v) => {
            if x_amz_date.next().is_some() {
                return Err(Error::incomplete("The request has more than one 'X-Amz-Date' header."));
            }
            (Some(v), false)
        }
        None => {
            let mut dates = req.header_values("date");
            let d = dates.next();
            if d.is_some() && dates.next().is_some() {
                return Err(Error::incomplete("The request has more than one 'Date' header."));
            }
            (d, true)
        }
    };
    let mut message = String::new();
    for (name, part) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if part.is_none_or(str::is_empty) {
            message.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    if date.is_none() {
        message.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(date), true) =
        (credential, signed_headers, signature, date, message.is_empty())
    else {
        message.push_str(&format!("Authorization={auth}"));
        return Err(Error::IncompleteSignature { message });
    };
    let mut tokens = req.header_values("x-amz-security-token");
    let session_token = match tokens.next() {
        None => None,
        Some(t) => {
            if tokens.next().is_some() {
                return Err(Error::incomplete(
                    "The request has more than one 'X-Amz-Security-Token' header.",
                ));
            }
            Some(String::from_utf8(t.to_vec()).map_err(|_| Error::InvalidClientTokenId)?)
        }
    };
    Ok(RawAuth {
        presigned: None,
        credential: credential.to_owned(),
        signed_headers: signed_headers.to_owned(),
        signature: signature.to_owned(),
        date: utf8(date, "The date header")?,
        date_from_date_header,
        session_token,
    })
}

fn parse_presigned(params: [Option<Vec<u8>>; 7]) -> Result<RawAuth, Error> {
    let [algorithm, credential, signature, date, signed_headers, expires, token] = params;
    let (Some(algorithm), Some(credential), Some(signature), Some(date), Some(signed_headers), Some(expires)) =
        (algorithm, credential, signature, date, signed_headers, expires)
    else {
        return Err(Error::incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', \
             'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the query-string parameters.",
        ));
    };
    let algorithm = utf8(&algorithm, "X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now)."
        )));
    }
    Ok(RawAuth {
        presigned: Some(utf8(&expires, "X-Amz-Expires")?),
        credential: utf8(&credential, "X-Amz-Credential")?,
        signed_headers: utf8(&signed_headers, "X-Amz-SignedHeaders")?,
        signature: utf8(&signature, "X-Amz-Signature")?,
        date: utf8(&date, "X-Amz-Date")?,
        date_from_date_header: false,
        session_token: token
            .map(|t| String::from_utf8(t).map_err(|_| Error::InvalidClientTokenId))
            .transpose()?,
    })
}

/// Splits `SignedHeaders` into names; each must be a non-empty lower-case HTTP token and appear
/// once.
pub(crate) fn signed_header_names(list: &str, max: usize) -> Result<Vec<&str>, Error> {
    let names: Vec<&str> = list.split(';').collect();
    if names.len() > max {
        return Err(Error::incomplete(format!(
            "SignedHeaders lists {} headers; at most {max} are accepted.",
            names.len()
        )));
    }
    let is_token_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b);
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(Error::incomplete(format!(
                "SignedHeaders must be a ';'-separated list of lower-case header names, got '{list}'."
            )));
        }
        if names[..i].contains(name) {
            return Err(Error::incomplete(format!(
                "SignedHeaders lists '{name}' more than once: '{list}'."
            )));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=abc";

    fn header_req(auth: &'static str) -> Request<'static> {
        Request::new("GET", "/")
            .header("Authorization", auth)
            .header("X-Amz-Date", "20150830T123600Z")
    }

    fn msg(e: Error) -> String {
        assert_eq!(e.aws_code(), "IncompleteSignature", "{e:?}");
        e.message()
    }

    #[test]
    fn parses_header_form() {
        let raw = parse(&header_req(AUTH), 16_384).unwrap();
        assert_eq!(raw.credential, "AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request");
        assert_eq!(raw.signed_headers, "host;x-amz-date");
        assert_eq!(raw.signature, "abc");
        assert_eq!(raw.date, "20150830T123600Z");
        assert_eq!(raw.presigned, None);
        // No spaces after commas, extra unknown parameter, trailing comma.
        let raw = parse(
            &header_req("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=0,Other=1,"),
            16_384,
        )
        .unwrap();
        assert_eq!((raw.credential.as_str(), raw.signature.as_str()), ("a/b/c/d/e", "0"));
    }

    #[test]
    fn missing_auth() {
        assert_eq!(
            parse(&Request::new("GET", "/?Action=x"), 100),
            Err(Error::MissingAuthenticationToken)
        );
    }

    #[test]
    fn missing_parts_are_listed_like_aws() {
        let e = parse(
            &Request::new("GET", "/").header("Authorization", "AWS4-HMAC-SHA256 Signature=abc"),
            1000,
        )
        .unwrap_err();
        assert_eq!(
            msg(e),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=AWS4-HMAC-SHA256 Signature=abc"
        );
        let e = parse(&header_req("Basic dXNlcjpwYXNz"), 1000).unwrap_err();
        assert!(msg(e).starts_with("Authorization header requires 'Credential' parameter."));
    }

    #[test]
    fn malformed_parts() {
        let e = parse(
            &header_req("AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=1"),
            1000,
        )
        .unwrap_err();
        assert_eq!(
            msg(e),
            "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: \
             'AWS4-HMAC-SHA256 Credential, SignedHeaders=host, Signature=1'."
        );
        let e = parse(
            &header_req("AWS4-HMAC-SHA256 Credential=a, Credential=b, SignedHeaders=host, Signature=1"),
            1000,
        )
        .unwrap_err();
        assert!(msg(e).contains("'Credential' appears more than once"));
        let e = parse(&header_req("AWS4-HMAC-SHA512 Credential=a"), 1000).unwrap_err();
        assert_eq!(
            msg(e),
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."
        );
        let e = parse(&header_req(AUTH), 10).unwrap_err();
        assert!(msg(e).contains("at most 10"));
    }

    #[test]
    fn duplicate_headers() {
        let r = header_req(AUTH).header("authorization", AUTH);
        assert!(msg(parse(&r, 1000).unwrap_err()).contains("more than one 'Authorization'"));
        let r = header_req(AUTH).header("x-amz-date", "20150830T123600Z");
        assert!(msg(parse(&r, 1000).unwrap_err()).contains("more than one 'X-Amz-Date'"));
        let r = header_req(AUTH)
            .header("x-amz-security-token", "a")
            .header("X-Amz-Security-Token", "b");
        assert!(msg(parse(&r, 1000).unwrap_err()).contains("more than one 'X-Amz-Security-Token'"));
    }

    #[test]
    fn date_header_fallback() {
        let r = Request::new("GET", "/")
            .header("Authorization", AUTH)
            .header("Date", "Sun, 30 Aug 2015 12:36:00 GMT");
        let raw = parse(&r, 1000).unwrap();
        assert!(raw.date_from_date_header);
        assert_eq!(raw.date, "Sun, 30 Aug 2015 12:36:00 GMT");
    }

    #[test]
    fn presigned_form() {
        let q = "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
                 &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab&X-Amz-Security-Token=t%2Bk";
        let r = Request::from_parts("GET", "/", q);
        let raw = parse(&r, 1000).unwrap();
        assert_eq!(raw.credential, "AKID/20150830/us-east-1/sts/aws4_request");
        assert_eq!(raw.presigned.as_deref(), Some("60"));
        assert_eq!(raw.session_token.as_deref(), Some("t+k"));
        let r = Request::from_parts("GET", "/", "X-Amz-Signature=ab");
        assert!(msg(parse(&r, 1000).unwrap_err()).starts_with("AWS query-string parameters must include"));
        let both = Request::from_parts("GET", "/", q).header("Authorization", AUTH);
        assert!(msg(parse(&both, 1000).unwrap_err()).starts_with("Only one auth mechanism"));
        let dup = format!("{q}&X-Amz-Date=20150830T123601Z");
        let r = Request::from_parts("GET", "/", &dup);
        assert!(msg(parse(&r, 1000).unwrap_err()).contains("'X-Amz-Date' appears more than once"));
        let r = Request::from_parts(
            "GET",
            "/",
            "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-Date=c&X-Amz-SignedHeaders=host&X-Amz-Expires=1",
        );
        assert!(msg(parse(&r, 1000).unwrap_err()).starts_with("Unsupported AWS 'algorithm'"));
    }

    #[test]
    fn signed_headers_list() {
        assert_eq!(
            signed_header_names("host;x-amz-date", 10).unwrap(),
            vec!["host", "x-amz-date"]
        );
        for bad in ["", "host;", ";host", "Host", "host;host", "ho st", "host;x:y"] {
            assert!(signed_header_names(bad, 10).is_err(), "{bad:?}");
        }
        assert!(signed_header_names("a;b;c", 2).is_err());
    }
}
