//! Properties over generated pods: applying the patch keeps every field of the original pod
//! (objects keep every member; lists keep every item, in order), the result is a valid
//! k8s-openapi Pod, the mutation is idempotent, and whole container lists are never replaced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use irsa_webhook::MutationConfig;
use irsa_webhook::mutate::{FixedRandom, Identity, apply_patch, build_patch};
use json_patch::PatchOperation;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// `orig` is contained in `result`.
fn subsumes(orig: &Value, result: &Value) -> bool {
    match (orig, result) {
        (Value::Object(a), Value::Object(b)) => a.iter().all(|(k, v)| b.get(k).is_some_and(|w| subsumes(v, w))),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a.iter().zip(b).all(|(x, y)| subsumes(x, y)),
        (Value::Array(a), Value::Array(b)) => {
            // ordered subsequence
            let mut it = b.iter();
            a.iter().all(|x| it.any(|y| subsumes(x, y)))
        }
        // `null` means "absent" to Kubernetes; the webhook may fill it (e.g. `env: null`).
        (Value::Null, _) => true,
        (a, b) => a == b,
    }
}

fn unknown_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn env_var() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("AWS_ROLE_ARN"),
            Just("AWS_WEB_IDENTITY_TOKEN_FILE"),
            Just("AWS_REGION"),
            Just("AWS_DEFAULT_REGION"),
            Just("AWS_STS_REGIONAL_ENDPOINTS"),
            Just("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            Just("OTHER"),
            Just("PATH"),
        ],
        "[a-z0-9]{0,5}",
        proptest::option::of(unknown_value()),
    )
        .prop_map(|(name, value, extra)| {
            let mut v = json!({"name": name, "value": value});
            if let Some(e) = extra {
                v["valueFromFuture"] = e;
            }
            v
        })
}

fn mount() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("aws-iam-token"),
            Just("data"),
            Just("eks-pod-identity-token"),
            Just("cfg")
        ],
        prop_oneof![Just("/data"), Just("/cfg"), Just("/var/run/x")],
        any::<bool>(),
    )
        .prop_map(|(name, path, ro)| json!({"name": name, "mountPath": path, "readOnly": ro}))
}

fn container() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("app"), Just("sidecar"), Just("init"), Just("proxy")],
        proptest::option::of(prop::collection::vec(env_var(), 0..4)),
        proptest::option::of(prop::collection::vec(mount(), 0..3)),
        prop::collection::btree_map("x[a-z]{1,5}", unknown_value(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(name, env, mounts, unknown, null_env)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("image".into(), json!("img"));
            match env {
                Some(e) => {
                    c.insert("env".into(), Value::Array(e));
                }
                None if null_env => {
                    c.insert("env".into(), Value::Null);
                }
                None => {}
            }
            if let Some(m) = mounts {
                c.insert("volumeMounts".into(), Value::Array(m));
            }
            for (k, v) in unknown {
                c.insert(k, v);
            }
            Value::Object(c)
        })
}

fn pod() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 1..4),
        proptest::option::of(prop::collection::vec(container(), 0..3)),
        proptest::option::of(prop::collection::vec(
            prop_oneof![Just("aws-iam-token"), Just("data"), Just("eks-pod-identity-token")]
                .prop_map(|n| json!({"name": n, "emptyDir": {}})),
            0..3,
        )),
        proptest::option::of(prop::collection::btree_map("[a-z]{1,4}", "[a-z]{0,4}", 0..3)),
        proptest::option::of(prop_oneof![
            Just("sidecar"),
            Just("init,proxy"),
            Just("\"app\""),
            Just("bad\"quote"),
        ]),
        proptest::option::of(prop_oneof![Just("3600"), Just("0"), Just("x")]),
        any::<bool>(),
        prop::collection::btree_map("x[a-z]{1,5}", unknown_value(), 0..3),
    )
        .prop_map(|(containers, inits, volumes, labels, skip, exp, windows, unknown)| {
            let mut annotations = Map::new();
            if let Some(s) = skip {
                annotations.insert("eks.amazonaws.com/skip-containers".into(), json!(s));
            }
            if let Some(e) = exp {
                annotations.insert("eks.amazonaws.com/token-expiration".into(), json!(e));
            }
            let mut metadata = json!({"name": "p", "annotations": annotations});
            if let Some(l) = labels {
                metadata["labels"] = json!(l);
            }
            let mut spec = json!({"containers": containers});
            if let Some(i) = inits {
                spec["initContainers"] = json!(i);
            }
            if let Some(v) = volumes {
                spec["volumes"] = json!(v);
            }
            if windows {
                spec["nodeSelector"] = json!({"kubernetes.io/os": "windows"});
            }
            for (k, v) in unknown {
                spec[k] = v;
            }
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec})
        })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        (any::<bool>(), 0i64..100_000).prop_map(|(sts, exp)| Identity::WebIdentity {
            role_arn: "arn:aws:iam::111122223333:role/r".into(),
            audience: "sts.amazonaws.com".into(),
            regional_sts: sts,
            token_expiration: exp.max(600),
        }),
        (any::<bool>(), prop_oneof![Just(86400i64), Just(3600)]).prop_map(|(sts, exp)| {
            Identity::ContainerCredentials {
                regional_sts: sts,
                token_expiration: exp,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn patch_keeps_every_original_field(pod in pod(), identity in identity(), region in any::<bool>(), rnd in any::<u64>()) {
        let cfg = MutationConfig {
            aws_default_region: if region { "eu-west-1".into() } else { String::new() },
            ..MutationConfig::default()
        };
        let out = build_patch(&pod, &identity, &cfg, &FixedRandom(rnd)).unwrap();
        for op in &out.patch.0 {
            let PatchOperation::Add(add) = op else { panic!("non-add op") };
            let path = add.path.to_string();
            prop_assert!(path != "/spec/containers" && path != "/spec/initContainers");
        }
        let mutated = apply_patch(&pod, &out.patch).unwrap();
        prop_assert!(subsumes(&pod, &mutated), "lost fields:\n{:#}\n{:#}", pod, mutated);
        prop_assert!((600..=100_000).contains(&out.token_expiration));

        // Typed Pod (unknown members are ignored by the typed model, nulls dropped first).
        let mut typed = mutated.clone();
        common::normalize(&mut typed);
        common::assert_is_pod(&typed, "generated");

        let again = build_patch(&mutated, &identity, &cfg, &FixedRandom(rnd)).unwrap();
        prop_assert!(again.patch.0.is_empty(), "not idempotent: {:?}", again.patch);
    }
}

fn review_body() -> impl Strategy<Value = Vec<u8>> {
    let shaped = (unknown_value(), unknown_value(), unknown_value(), any::<bool>()).prop_map(
        |(spec_extra, containers, env, beta)| {
            let object = json!({
                "kind": "Pod",
                "metadata": {"annotations": {"eks.amazonaws.com/skip-containers": "a,\"b"}},
                "spec": {"serviceAccountName": "sa", "containers": [{"name": "a", "env": env}, containers],
                         "volumes": spec_extra}
            });
            json!({"apiVersion": if beta { "admission.k8s.io/v1beta1" } else { "admission.k8s.io/v1" },
                   "request": {"uid": "u", "namespace": "ns", "object": object}})
            .to_string()
            .into_bytes()
        },
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        unknown_value().prop_map(|v| json!({"request": v}).to_string().into_bytes()),
        shaped,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the body, the answer is a well-formed AdmissionReview and nothing panics.
    #[test]
    fn any_body_gets_a_well_formed_answer(body in review_body()) {
        let store = irsa_webhook::store::IdentityStore::new();
        store.upsert("ns", "sa", irsa_webhook::annotations::ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com", [("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/r")]));
        let cfg = MutationConfig::default();
        let ctx = irsa_webhook::admission::ReviewContext {
            store: &store, config: &cfg, random: &FixedRandom(0), grace: std::time::Duration::ZERO,
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let answer = rt.block_on(irsa_webhook::admission::review(&body, &ctx));
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        prop_assert_eq!(&v["kind"], "AdmissionReview");
        prop_assert!(v["response"]["allowed"].is_boolean());
        prop_assert!(v["response"]["uid"].is_string());
    }
}
