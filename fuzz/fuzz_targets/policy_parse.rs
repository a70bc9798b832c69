//! Any input: no panic; a document that parses prints to canonical JSON that
//! parses back to the same model, and evaluates without panicking.
#![no_main]

use irsa_policy::{Context, Limits, Policy, PolicyKind, PolicyRole, PolicySet, Request, RequestPrincipal, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in [PolicyKind::Trust, PolicyKind::Identity] {
        let _ = validate(text, kind, &Limits::default());
    }
    let Ok(policy) = Policy::parse(text) else { return };
    let printed = policy.to_json();
    match Policy::parse(&printed) {
        Ok(again) => assert_eq!(again, policy, "canonical form changed the policy"),
        Err(e) => panic!("canonical form does not parse: {e}\n{printed}"),
    }
    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice").insert("aws:SourceIp", "10.0.0.1");
    ctx.insert_multi("aws:TagKeys", ["a", "b"]);
    let req = Request::new("s3:GetObject")
        .with_resource("arn:aws:s3:::bucket/home/alice/x")
        .with_principal(RequestPrincipal::parse("arn:aws:sts::111122223333:assumed-role/r/s"))
        .with_context(ctx);
    for role in [PolicyRole::Identity, PolicyRole::Resource] {
        let set = PolicySet::new().with(role, "fuzz", &policy);
        assert_eq!(set.evaluate(&req), set.explain(&req).decision);
    }
});
