//! `irsa-aws-query` is the AWS Query protocol as irsa's STS + IAM service
//! speaks it, with no IO: form-encoded parameters in ([`QueryParams`], with
//! `Name.member.N` lists and AWS's Coral-style `ValidationError` messages from
//! [`Validator`]), XML documents out ([`response`], [`XmlWriter`]) and errors
//! out ([`error_response`]). [`ErrorCode`] is the one table of AWS error codes
//! with their HTTP status and fault; the server maps its domain errors onto it
//! in one module, so a code's wire form and status are defined exactly once.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod params;
mod time;
mod xml;

pub use error::{AwsError, ErrorCode, Fault};
pub use params::{MAX_QUERY_BYTES, NAME_PATTERN, POLICY_PATTERN, Pattern, QueryParams, TEXT_PATTERN, Validator};
pub use time::{iso8601, iso8601_time};
pub use xml::{IAM_NAMESPACE, STS_NAMESPACE, XmlWriter, error_response, escape, response, response_xml};

/// Percent-encodes a policy document as IAM returns documents in `Get*` and
/// `List*` responses (botocore URL-decodes every policy document member).
pub fn url_encode_policy(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len() * 3 / 2);
    for b in doc.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_percent_encoded_with_space_as_20() {
        assert_eq!(url_encode_policy("{\"a\": \"b+c\"}"), "%7B%22a%22%3A%20%22b%2Bc%22%7D");
    }

    #[test]
    fn every_code_has_a_status_and_unique_wire_name() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "{c:?}");
            assert!(matches!(c.status(), 400 | 403 | 404 | 409 | 500 | 503));
        }
    }
}
