//! Any bytes as an AdmissionReview body: decoding returns a typed error (whose answer is valid
//! JSON) or a request; the pure mutation of the decoded pod, with a fixed configuration and each
//! kind of identity, returns an error or a patch that applies to that pod, and re-running the
//! mutation on the patched pod adds nothing (the API server re-invokes webhooks).
#![no_main]

use std::sync::OnceLock;

use irsa_webhook::MutationConfig;
use irsa_webhook::admission::{decode_review, error_answer};
use irsa_webhook::mutate::{FixedRandom, Identity, apply_patch, build_patch};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn setup() -> &'static (MutationConfig, [Identity; 2]) {
    static S: OnceLock<(MutationConfig, [Identity; 2])> = OnceLock::new();
    S.get_or_init(|| {
        // A region, so that the region variables are injected too.
        let config = MutationConfig {
            aws_default_region: "eu-west-1".into(),
            ..MutationConfig::default()
        };
        let identities = [
            Identity::WebIdentity {
                role_arn: "arn:aws:iam::111122223333:role/app".into(),
                audience: "sts.amazonaws.com".into(),
                regional_sts: true,
                token_expiration: 86_400,
            },
            Identity::ContainerCredentials {
                regional_sts: false,
                token_expiration: 86_400,
            },
        ];
        (config, identities)
    })
}

fuzz_target!(|data: &[u8]| {
    let request = match decode_review(data) {
        Ok(r) => r,
        Err(e) => {
            let answer = error_answer(&e);
            assert!(
                serde_json::from_slice::<Value>(&answer.body).is_ok(),
                "error answer is not JSON"
            );
            return;
        }
    };
    let (config, identities) = setup();
    // Nonzero: the Pod Identity expiration jitter is exercised (0 means no jitter).
    let random = FixedRandom(0x9e37_79b9_7f4a_7c15);
    for identity in identities {
        let Ok(outcome) = build_patch(&request.object, identity, config, &random) else {
            continue;
        };
        let mutated = match apply_patch(&request.object, &outcome.patch) {
            Ok(m) => m,
            Err(e) => panic!("the patch does not apply to its own pod: {e}\n{:?}", outcome.patch),
        };
        match build_patch(&mutated, identity, config, &random) {
            Ok(again) => assert!(again.patch.0.is_empty(), "not idempotent: {:?}", again.patch),
            Err(e) => panic!("the mutated pod is refused: {e}"),
        }
    }
});
