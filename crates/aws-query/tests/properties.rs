//! Decoding form parameters: round trips and no panics on any input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

use irsa_aws_query::{NAME_PATTERN, QueryParams, Validator};
use proptest::prelude::*;

proptest! {
    #[test]
    fn encoded_parameters_decode_to_themselves(
        pairs in prop::collection::btree_map("[A-Za-z][A-Za-z0-9.]{0,20}", "\\PC{0,40}", 0..12)
    ) {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            s.append_pair(k, v);
        }
        let encoded = s.finish();
        let p = QueryParams::parse(encoded.as_bytes()).unwrap();
        for (k, v) in &pairs {
            prop_assert_eq!(p.get(k), Some(v.as_str()));
        }
        prop_assert_eq!(p.iter().count(), pairs.len());
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = QueryParams::parse(&bytes) {
            let _ = p.action();
            let _ = p.list("A", None);
            let _ = p.pairs("Tags", "Key", "Value");
            let mut v = Validator::new(&p);
            v.string("RoleSessionName", true, 2, 64, Some(NAME_PATTERN));
            v.int("DurationSeconds", false, 900, 43200);
            let _ = v.finish();
        }
    }
}
