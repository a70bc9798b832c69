//! The sans-IO core, table-tested: the AWS plugin's spec, ARN and allow-list, its plans against
//! what the status records, and a Profile's desired objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use irsa_controller::aws::{self, AwsPlan, PluginError, RoleArn, glob_match, parse_spec};
use irsa_controller::config::{AwsConfig, ControllerConfig, parse_namespace_labels};
use irsa_controller::crd::{AwsMode, AwsStatus, Profile};
use irsa_controller::desired::{self, DesiredError, desired_state};
use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::111122223333:role/kf-user";
const ROLE2: &str = "arn:aws:iam::111122223333:role/team/kf-other";
const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/ABC";

fn profile(name: &str, plugins: serde_json::Value) -> Profile {
    serde_json::from_value(json!({
        "apiVersion": "kubeflow.org/v1", "kind": "Profile",
        "metadata": {"name": name, "uid": "u-1", "generation": 3},
        "spec": {"owner": {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice@example.com"},
                 "plugins": plugins}
    }))
    .unwrap()
}

fn aws_cfg() -> AwsConfig {
    AwsConfig {
        oidc_issuer: Some(ISSUER.into()),
        ..ControllerConfig::default().aws
    }
}

fn applied(role: &str, subjects: &[&str], mode: AwsMode) -> AwsStatus {
    AwsStatus {
        applied_role_arn: role.into(),
        provider_arn: Some(RoleArn::parse(role).unwrap().provider(ISSUER).unwrap().arn),
        subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
        mode,
    }
}

#[test]
fn plugin_spec_parsing() {
    type Case = (serde_json::Value, Result<(&'static str, bool), PluginError>);
    let cases: Vec<Case> = vec![
        (json!({"awsIamRole": ROLE}), Ok((ROLE, false))),
        (json!({"awsIamRole": ROLE, "annotateOnly": true}), Ok((ROLE, true))),
        (json!({"awsIamRole": ROLE, "AnnotateOnly": true}), Ok((ROLE, true))),
        (json!({"awsIamRole": ROLE, "annotateOnly": "true"}), Ok((ROLE, true))),
        (
            json!({"awsIamRole": format!(" {ROLE} "), "unknown": 1}),
            Ok((ROLE, false)),
        ),
        (json!({}), Err(PluginError::EmptyRole)),
        (json!({"awsIamRole": ""}), Err(PluginError::EmptyRole)),
    ];
    for (spec, want) in cases {
        let got = parse_spec(Some(&spec)).map(|s| (s.aws_iam_role, s.annotate_only));
        assert_eq!(got, want.map(|(r, a)| (r.to_owned(), a)), "{spec}");
    }
    assert!(matches!(
        parse_spec(Some(&json!({"awsIamRole": 5}))),
        Err(PluginError::InvalidSpec(_))
    ));
    assert!(matches!(
        parse_spec(Some(&json!("x"))),
        Err(PluginError::InvalidSpec(_))
    ));
    assert!(matches!(
        parse_spec(Some(&json!({"awsIamRole": ROLE, "annotateOnly": 1}))),
        Err(PluginError::InvalidSpec(_))
    ));
}

#[test]
fn role_arns() {
    let ok = [
        (ROLE, "aws", "111122223333", "kf-user"),
        (ROLE2, "aws", "111122223333", "kf-other"),
        (
            "arn:aws-cn:iam::111122223333:role/r+=,.@_-",
            "aws-cn",
            "111122223333",
            "r+=,.@_-",
        ),
        (
            "arn:aws-us-gov:iam::111122223333:role/a/b/c",
            "aws-us-gov",
            "111122223333",
            "c",
        ),
    ];
    for (arn, partition, account, name) in ok {
        let r = RoleArn::parse(arn).unwrap();
        assert_eq!(
            (r.partition.as_str(), r.account.as_str(), r.name.as_str()),
            (partition, account, name)
        );
    }
    for bad in [
        "",
        "kf-user",
        "arn:aws:iam::1111:role/x",
        "arn:aws:iam:us-east-1:111122223333:role/x",
        "arn:aws:sts::111122223333:role/x",
        "arn:aws:iam::111122223333:user/x",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role/a b",
    ] {
        assert!(RoleArn::parse(bad).is_err(), "{bad}");
    }
    let p = RoleArn::parse("arn:aws-cn:iam::111122223333:role/x")
        .unwrap()
        .provider("https://oidc.eks.cn-north-1.amazonaws.com.cn/id/X")
        .unwrap();
    assert_eq!(
        p.arn,
        "arn:aws-cn:iam::111122223333:oidc-provider/oidc.eks.cn-north-1.amazonaws.com.cn/id/X"
    );
}

#[test]
fn globs() {
    for (p, t, want) in [
        ("arn:aws:iam::*:role/kf-*", ROLE, true),
        ("arn:aws:iam::111122223333:role/kf-user", ROLE, true),
        ("arn:aws:iam::111122223333:role/kf-use?", ROLE, true),
        ("arn:aws:iam::111122223333:role/kf-", ROLE, false),
        ("*", "", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
    ] {
        assert_eq!(glob_match(p, t), want, "{p} {t}");
    }
}

#[test]
fn allow_list_and_cross_account() {
    let role = RoleArn::parse(ROLE).unwrap();
    let mut c = aws_cfg();
    assert!(aws::check_allowed(&role, &c).is_ok());
    c.allowed_role_patterns = vec!["arn:aws:iam::111122223333:role/team/*".into()];
    assert!(matches!(
        aws::check_allowed(&role, &c),
        Err(PluginError::NotAllowed { .. })
    ));
    c.allowed_role_patterns
        .push("arn:aws:iam::111122223333:role/kf-*".into());
    assert!(aws::check_allowed(&role, &c).is_ok());
    c.account_id = Some("444455556666".into());
    let e = aws::check_allowed(&role, &c).unwrap_err();
    assert!(e.to_string().contains("cross-account"), "{e}");
    c.allow_cross_account = true;
    assert!(aws::check_allowed(&role, &c).is_ok());

    // A refused role: a condition, no annotation, no grant; the old trust is revoked.
    let mut c = aws_cfg();
    c.allowed_role_patterns = vec!["arn:aws:iam::111122223333:role/team/*".into()];
    let p = profile(
        "team-a",
        json!([{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE}}]),
    );
    let old = applied(ROLE, &["system:serviceaccount:team-a:default-editor"], AwsMode::Trust);
    let plan = aws::plan(&p, &c, Some(&old));
    assert!(plan.annotations.is_empty());
    assert!(plan.grant.is_empty());
    assert_eq!(plan.revoke.len(), 1);
    assert_eq!(plan.applied, None);
    assert_eq!(plan.conditions[0].type_, aws::condition::ROLE_NOT_ALLOWED);
}

fn subjects(ops: &[aws::TrustOp]) -> Vec<(String, String)> {
    ops.iter().map(|o| (o.role.name.clone(), o.subject.clone())).collect()
}

#[test]
fn trust_plans_against_the_status() {
    let editor = "system:serviceaccount:team-a:default-editor";
    let viewer = "system:serviceaccount:team-a:default-viewer";
    let with = |spec: serde_json::Value| profile("team-a", json!([{"kind": "AwsIamForServiceAccount", "spec": spec}]));
    struct Case {
        name: &'static str,
        profile: Profile,
        applied: Option<AwsStatus>,
        viewer: bool,
        grant: Vec<(&'static str, &'static str)>,
        revoke: Vec<(&'static str, &'static str)>,
        mode: Option<AwsMode>,
    }
    let cases = vec![
        Case {
            name: "new plugin",
            profile: with(json!({"awsIamRole": ROLE})),
            applied: None,
            viewer: false,
            grant: vec![("kf-user", editor)],
            revoke: vec![],
            mode: Some(AwsMode::Trust),
        },
        Case {
            name: "resync: recorded, no IAM call",
            profile: with(json!({"awsIamRole": ROLE})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![],
            mode: Some(AwsMode::Trust),
        },
        Case {
            name: "viewer enabled",
            profile: with(json!({"awsIamRole": ROLE})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: true,
            grant: vec![("kf-user", viewer)],
            revoke: vec![],
            mode: Some(AwsMode::Trust),
        },
        Case {
            name: "viewer disabled again",
            profile: with(json!({"awsIamRole": ROLE})),
            applied: Some(applied(ROLE, &[editor, viewer], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![("kf-user", viewer)],
            mode: Some(AwsMode::Trust),
        },
        Case {
            name: "role changed",
            profile: with(json!({"awsIamRole": ROLE2})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![("kf-other", editor)],
            revoke: vec![("kf-user", editor)],
            mode: Some(AwsMode::Trust),
        },
        Case {
            name: "plugin removed",
            profile: profile("team-a", json!([])),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![("kf-user", editor)],
            mode: None,
        },
        Case {
            name: "same role switched to annotateOnly: handed over, not revoked",
            profile: with(json!({"awsIamRole": ROLE, "annotateOnly": true})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![],
            mode: Some(AwsMode::AnnotateOnly),
        },
        Case {
            name: "other role in annotateOnly: the old trust is revoked",
            profile: with(json!({"awsIamRole": ROLE2, "annotateOnly": true})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![("kf-user", editor)],
            mode: Some(AwsMode::AnnotateOnly),
        },
        Case {
            name: "annotateOnly removed: nothing to revoke",
            profile: profile("team-a", json!([])),
            applied: Some(applied(ROLE, &[], AwsMode::AnnotateOnly)),
            viewer: false,
            grant: vec![],
            revoke: vec![],
            mode: None,
        },
        Case {
            name: "invalid spec revokes",
            profile: with(json!({"awsIamRole": "not-an-arn"})),
            applied: Some(applied(ROLE, &[editor], AwsMode::Trust)),
            viewer: false,
            grant: vec![],
            revoke: vec![("kf-user", editor)],
            mode: None,
        },
    ];
    for case in cases {
        let mut c = aws_cfg();
        c.annotate_viewer = case.viewer;
        let plan: AwsPlan = aws::plan(&case.profile, &c, case.applied.as_ref());
        let own = |v: Vec<(&str, &str)>| {
            v.into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(subjects(&plan.grant), own(case.grant), "{}: grant", case.name);
        assert_eq!(subjects(&plan.revoke), own(case.revoke), "{}: revoke", case.name);
        assert_eq!(plan.applied.as_ref().map(|a| a.mode), case.mode, "{}: mode", case.name);
        let annotated = plan.annotations.contains_key(desired::DEFAULT_EDITOR);
        assert_eq!(annotated, case.mode.is_some(), "{}: annotation", case.name);
        assert_eq!(
            plan.annotations.contains_key(desired::DEFAULT_VIEWER),
            case.viewer && case.mode.is_some()
        );
    }
}

#[test]
fn unknown_and_duplicate_plugins_are_reported() {
    let p = profile(
        "team-a",
        json!([{"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": "x"}},
               {"kind": "Mystery"},
               {"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE}},
               {"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE2}}]),
    );
    let plan = aws::plan(&p, &aws_cfg(), None);
    let types: Vec<&str> = plan.conditions.iter().map(|c| c.type_).collect();
    assert_eq!(
        types,
        vec![aws::condition::PLUGIN_UNKNOWN, aws::condition::PLUGIN_INVALID]
    );
    assert!(plan.conditions[0].message.contains("`WorkloadIdentity`, `Mystery`"));
    assert_eq!(subjects(&plan.grant)[0].0, "kf-user");
    // The plugins' specs survive a round trip unchanged.
    let back = serde_json::to_value(&p).unwrap();
    assert_eq!(back["spec"]["plugins"][0]["spec"], json!({"gcpServiceAccount": "x"}));
}

#[test]
fn issuer_from_the_role_when_not_configured() {
    let mut c = aws_cfg();
    c.oidc_issuer = None;
    let p = profile(
        "team-a",
        json!([{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE}}]),
    );
    let plan = aws::plan(&p, &c, None);
    assert_eq!(plan.grant[0].provider, None);
    // Once recorded, the recorded provider is reused and nothing is granted again.
    let rec = applied(ROLE, &["system:serviceaccount:team-a:default-editor"], AwsMode::Trust);
    let plan = aws::plan(&p, &c, Some(&rec));
    assert!(plan.grant.is_empty());
    assert_eq!(plan.applied.unwrap().provider_arn, rec.provider_arn);
}

#[test]
fn deletion_revokes_recorded_and_requested_trust() {
    let p = profile(
        "team-a",
        json!([{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE2}}]),
    );
    let rec = applied(ROLE, &["system:serviceaccount:team-a:default-editor"], AwsMode::Trust);
    let ops = aws::deletion_plan(&p, &aws_cfg(), Some(&rec));
    assert_eq!(
        subjects(&ops),
        vec![
            (
                "kf-user".to_owned(),
                "system:serviceaccount:team-a:default-editor".to_owned()
            ),
            (
                "kf-other".to_owned(),
                "system:serviceaccount:team-a:default-editor".to_owned()
            ),
        ]
    );
    let annotate_only = profile(
        "team-a",
        json!([{"kind": "AwsIamForServiceAccount", "spec": {"awsIamRole": ROLE, "annotateOnly": true}}]),
    );
    assert!(aws::deletion_plan(&annotate_only, &aws_cfg(), None).is_empty());
}

#[test]
fn required_tag_template() {
    let mut c = aws_cfg();
    c.required_role_tag = Some(("kubeflow.org/profile".into(), Some("{profile}".into())));
    let tag = aws::required_tag(&c, "team-a").unwrap();
    assert_eq!(tag, ("kubeflow.org/profile".to_owned(), Some("team-a".to_owned())));
    assert!(aws::tag_satisfied(
        &tag,
        &[("kubeflow.org/profile".into(), "team-a".into())]
    ));
    assert!(!aws::tag_satisfied(
        &tag,
        &[("kubeflow.org/profile".into(), "team-b".into())]
    ));
    assert!(aws::tag_satisfied(
        &("k".into(), None),
        &[("k".into(), "anything".into())]
    ));
}

#[test]
fn desired_objects() {
    let mut p = profile("team-a", json!([]));
    p.spec.resource_quota_spec = Some(serde_json::from_value(json!({"hard": {"cpu": "4"}})).unwrap());
    let config = ControllerConfig::default();
    let annotations = BTreeMap::from([(
        "default-editor".to_owned(),
        BTreeMap::from([("eks.amazonaws.com/role-arn".to_owned(), ROLE.to_owned())]),
    )]);
    let d = desired_state(&p, &config, None, &annotations).unwrap();
    let objects = d.objects();
    let kinds: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["metadata"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("Namespace", "team-a"),
        ("AuthorizationPolicy", "ns-owner-access-istio"),
        ("ServiceAccount", "default-editor"),
        ("ServiceAccount", "default-viewer"),
        ("RoleBinding", "default-editor"),
        ("RoleBinding", "default-viewer"),
        ("RoleBinding", "namespaceAdmin"),
        ("ResourceQuota", "kf-resource-quota"),
    ];
    assert_eq!(kinds, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
    for o in &objects {
        assert_eq!(o["metadata"]["ownerReferences"][0]["uid"], "u-1", "{o}");
        assert_eq!(o["metadata"]["ownerReferences"][0]["controller"], true);
    }
    assert_eq!(objects[0]["metadata"]["annotations"]["owner"], "alice@example.com");
    assert_eq!(objects[0]["metadata"]["labels"]["istio-injection"], "enabled");
    assert_eq!(
        objects[2]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        ROLE
    );
    assert!(objects[3]["metadata"].get("annotations").is_none());
    assert_eq!(objects[4]["roleRef"]["name"], "kubeflow-edit");
    assert_eq!(objects[5]["roleRef"]["name"], "kubeflow-view");
    assert_eq!(objects[6]["roleRef"]["name"], "kubeflow-admin");
    assert_eq!(objects[6]["subjects"][0]["name"], "alice@example.com");
    assert_eq!(
        objects[6]["metadata"]["annotations"],
        json!({"user": "alice@example.com", "role": "admin"})
    );
    let rules = &objects[1]["spec"]["rules"];
    assert_eq!(rules[0]["when"][0]["key"], "request.headers[kubeflow-userid]");
    assert_eq!(rules[0]["when"][0]["values"][0], "alice@example.com");
    assert_eq!(rules[1]["from"][0]["source"]["namespaces"][0], "team-a");
    assert_eq!(objects[7]["spec"]["hard"]["cpu"], "4");

    // No quota when `hard` is empty.
    p.spec.resource_quota_spec = Some(serde_json::from_value(json!({"hard": {}})).unwrap());
    assert!(
        desired_state(&p, &config, None, &BTreeMap::new())
            .unwrap()
            .resource_quota
            .is_none()
    );
}

#[test]
fn namespace_rules() {
    let p = profile("team-a", json!([]));
    let config = ControllerConfig::default();
    let ns = |owner: &str, labels: serde_json::Value| -> Namespace {
        serde_json::from_value(
            json!({"metadata": {"name": "team-a", "annotations": {"owner": owner}, "labels": labels}}),
        )
        .unwrap()
    };
    let e = desired_state(&p, &config, Some(&ns("bob@example.com", json!({}))), &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, DesiredError::NamespaceOwnedByOther { .. }), "{e}");
    let d = desired_state(
        &p,
        &config,
        Some(&ns("alice@example.com", json!({"istio-injection": "disabled"}))),
        &BTreeMap::new(),
    )
    .unwrap();
    let labels = d.namespace.metadata.labels.unwrap();
    assert!(
        !labels.contains_key("istio-injection"),
        "an existing value is never overwritten"
    );
    assert_eq!(labels["pipelines.kubeflow.org/enabled"], "true");

    let file = parse_namespace_labels("a: x\nb: \"\"\nc:\nd: true\n").unwrap();
    assert_eq!(file["a"], "x");
    assert_eq!(file["b"], "");
    assert_eq!(file["c"], "");
    assert_eq!(file["d"], "true");
    let applied = desired::namespace_labels(&file, None);
    assert_eq!(applied.keys().collect::<Vec<_>>(), vec!["a", "d"]);
    assert_eq!(desired::namespace_labels_to_remove(&file), vec!["b", "c"]);

    let current = ns("alice@example.com", json!({"b": "set-by-someone", "a": "x"}));
    assert_eq!(
        desired::labels_removal_patch(&file, Some(&current)),
        Some(json!({"metadata": {"labels": {"b": null}}}))
    );
    assert_eq!(desired::labels_removal_patch(&file, None), None);

    let mut no_owner = p.clone();
    no_owner.spec.owner = None;
    assert_eq!(
        desired_state(&no_owner, &config, None, &BTreeMap::new()).unwrap_err(),
        DesiredError::NoOwner
    );
}

#[test]
fn crd_has_both_versions_and_preserves_plugin_specs() {
    let crd = irsa_controller::crd::crd();
    assert_eq!(crd.spec.scope, "Cluster");
    let versions: Vec<(&str, bool, bool)> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.served, v.storage))
        .collect();
    assert_eq!(versions, vec![("v1", true, true), ("v1beta1", true, false)]);
    let v = serde_json::to_value(&crd).unwrap();
    for version in v["spec"]["versions"].as_array().unwrap() {
        assert_eq!(version["subresources"]["status"], json!({}));
        let plugin = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["plugins"]["items"];
        assert_eq!(
            plugin["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"], true,
            "{plugin}"
        );
    }
    assert_eq!(v["spec"]["versions"][0]["schema"], v["spec"]["versions"][1]["schema"]);
    assert_eq!(v["spec"]["conversion"]["strategy"], "None");
    let yaml = irsa_controller::crd::crd_yaml().unwrap();
    assert!(yaml.contains("profiles.kubeflow.org"));
    // The committed manifest is the generated one.
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/profile-controller/crd.yaml"
    ));
    match committed {
        Ok(text) => assert_eq!(
            text, yaml,
            "deploy/profile-controller/crd.yaml is stale; regenerate with IRSA_WRITE_CRD=1"
        ),
        Err(_) if std::env::var_os("IRSA_WRITE_CRD").is_some() => {}
        Err(e) => panic!("deploy/profile-controller/crd.yaml: {e}"),
    }
}

#[test]
fn write_crd_when_asked() {
    if std::env::var_os("IRSA_WRITE_CRD").is_some() {
        let yaml = irsa_controller::crd::crd_yaml().unwrap();
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/profile-controller/crd.yaml"),
            yaml,
        )
        .unwrap();
    }
}

#[test]
fn upstream_profiles_deserialize() {
    // v1beta1 sample with a quota and the AWS plugin as Kubeflow-on-AWS writes it.
    let yaml = r#"
apiVersion: kubeflow.org/v1beta1
kind: Profile
metadata:
  name: kubeflow-user-example-com
spec:
  owner:
    kind: User
    name: user@example.com
  plugins:
  - kind: AwsIamForServiceAccount
    spec:
      awsIamRole: arn:aws:iam::111122223333:role/kf-user
      annotateOnly: true
  resourceQuotaSpec:
    hard:
      cpu: "2"
      memory: 2Gi
      requests.nvidia.com/gpu: "1"
status:
  conditions:
  - type: Successful
    status: "True"
    message: ok
"#;
    let r = irsa_controller::render(yaml, &ControllerConfig::default()).unwrap();
    assert_eq!(r.objects.len(), 8);
    assert_eq!(r.plan.applied.as_ref().unwrap().mode, AwsMode::AnnotateOnly);
    assert!(r.objects_yaml().unwrap().contains("eks.amazonaws.com/role-arn"));
    assert_eq!(r.trust_summary(), "no trust change\n");
    let r = irsa_controller::render(
        &yaml.replace("      annotateOnly: true\n", ""),
        &ControllerConfig::default(),
    )
    .unwrap();
    let j = r.to_json();
    assert_eq!(
        j["grant"][0]["subject"],
        "system:serviceaccount:kubeflow-user-example-com:default-editor"
    );
    assert_eq!(
        j["grant"][0]["providerArn"],
        Value::Null,
        "no issuer configured: the role's own provider"
    );
    assert_eq!(j["objects"].as_array().unwrap().len(), 8);
    assert!(
        r.trust_summary()
            .starts_with("+ trust system:serviceaccount:kubeflow-user-example-com:default-editor on role")
    );
}
