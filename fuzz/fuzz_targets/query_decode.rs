//! Any request body: decoding, list and validation helpers never panic, and
//! an error document for whatever was decoded is well formed.
#![no_main]

use irsa_aws_query::{AwsError, ErrorCode, NAME_PATTERN, QueryParams, STS_NAMESPACE, Validator, error_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = QueryParams::parse(data) else { return };
    let _ = p.list("PolicyArns", Some("arn"));
    let _ = p.pairs("Tags", "Key", "Value");
    let mut v = Validator::new(&p);
    v.string("RoleSessionName", true, 2, 64, Some(NAME_PATTERN));
    v.int("DurationSeconds", false, 900, 43200);
    if let Err(e) = v.finish() {
        let doc = error_response(&e, STS_NAMESPACE, "rid");
        assert!(doc.starts_with("<ErrorResponse"));
    }
    if let Some(a) = p.get("Action") {
        let e = AwsError::new(ErrorCode::InvalidAction, a);
        let doc = error_response(&e, STS_NAMESPACE, "rid");
        assert!(!doc.contains('\u{0}'));
    }
});
