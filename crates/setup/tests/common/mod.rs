//! What the setup tests share: SDK configurations for a local IAM, a local
//! HTTPS issuer with its own CA, and the one setup scenario every IAM backend
//! (moto_server, irsa's server) must pass.

#![allow(dead_code)] // each test binary uses its own part

use irsa_setup::{Change, Plan, Target, apply, connect_with, issuer_thumbprints, parse_config, plan, teardown};
use irsa_testkit::Pki;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;

/// An SDK configuration for the IAM at `url` with these credentials (set
/// explicitly: tests do not touch the environment).
pub async fn sdk_config(url: &str, id: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_iam::config::Credentials::new(id, secret, None, None, "test"))
        .endpoint_url(url)
        .load()
        .await
}

pub const CONFIG: &str = "apiVersion: kfdef.apps.kubeflow.org/v1
kind: KfDef
metadata:
  name: prod
spec:
  plugins:
  - kind: KfAwsPlugin
    metadata:
      name: aws
    spec:
      region: us-west-2
      enablePodIamPolicy: true
";

pub const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

pub fn target(account: &str, issuer: &str) -> Target {
    Target {
        cluster_name: "prod".into(),
        issuer_url: issuer.into(),
        account: account.into(),
        partition: "aws".into(),
        trust_limit: 2048,
        allow_http_issuer: false,
    }
}

/// An HTTPS server on loopback that presents `chain_pem` (leaf first) with
/// `key_pem` and only completes handshakes: all a thumbprint fetch needs.
pub async fn tls_server(chain_pem: &[&str], key_pem: &str) -> SocketAddr {
    let chain: Vec<CertificateDer<'static>> = chain_pem
        .iter()
        .flat_map(|p| CertificateDer::pem_slice_iter(p.as_bytes()).map(Result::unwrap))
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    addr
}

/// The thumbprint `irsa setup --issuer-ca-file` finds for an issuer whose
/// server certificate `pki` issued, fetched over TLS from a local server.
pub async fn fetched_thumbprint(pki: &Pki) -> String {
    let addr = tls_server(&[&pki.cert_pem], &pki.key_pem).await;
    let url = format!("https://{addr}/clusters/prod");
    let mut list = issuer_thumbprints(&url, Some(pki.ca_pem.as_bytes())).await.unwrap();
    assert_eq!(list.len(), 1);
    list.remove(0)
}

fn all(changes: &[Change], what: fn(&Change) -> bool) -> bool {
    !changes.is_empty() && changes.iter().all(what)
}

fn decode(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

async fn role_exists(client: &aws_sdk_iam::Client, name: &str) -> bool {
    match client.get_role().role_name(name).send().await {
        Ok(_) => true,
        Err(e) => {
            let code = aws_sdk_iam::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
            assert_eq!(code.as_deref(), Some("NoSuchEntity"), "{e:?}");
            false
        }
    }
}

async fn provider_thumbprints(client: &aws_sdk_iam::Client, arn: &str) -> Option<Vec<String>> {
    client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(arn)
        .send()
        .await
        .ok()
        .map(|p| p.thumbprint_list().to_vec())
}

/// `irsa setup` end to end against the IAM that `conf` points at: a dry run
/// writes nothing; the provider (with the thumbprint of a private CA's issuer)
/// and both roles are created with the planned trust and policies; a second
/// run changes nothing; a new CA's thumbprint updates the provider; what irsa
/// did not create is never changed or deleted; teardown removes the rest.
pub async fn setup_scenario(conf: &aws_config::SdkConfig) {
    let (client, account) = connect_with(conf).await.unwrap();
    assert_eq!(account.len(), 12, "{account}");
    let cfg = parse_config(CONFIG).unwrap().config;
    let mut p: Plan = plan(&cfg, &target(&account, ISSUER)).unwrap();
    let tp = fetched_thumbprint(&Pki::new()).await;
    p.provider.thumbprints = vec![tp.clone()];

    let dry = apply(&client, &p, "prod", true, |_| {}).await.unwrap();
    assert!(all(&dry, |c| matches!(c, Change::Created(_))), "{dry:#?}");
    assert!(!role_exists(&client, "kf-admin-prod").await, "a dry run writes nothing");
    assert_eq!(provider_thumbprints(&client, &p.provider.arn).await, None);

    let first = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(all(&first, |c| matches!(c, Change::Created(_))), "{first:#?}");
    assert_eq!(first.len(), dry.len(), "the dry run said what the run did");
    let provider = client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&p.provider.arn)
        .send()
        .await
        .unwrap();
    assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(provider.thumbprint_list(), [tp.as_str()]);
    for planned in &p.roles {
        let role = client
            .get_role()
            .role_name(&planned.name)
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let trust = decode(role.assume_role_policy_document().unwrap());
        let got = irsa_policy::Policy::parse(&trust).unwrap();
        assert_eq!(
            got,
            irsa_policy::Policy::parse(&planned.trust_policy).unwrap(),
            "{trust}"
        );
        assert!(trust.contains(&p.provider.arn), "{trust}");
        for subject in &planned.trusted {
            assert!(trust.contains(subject.as_str()), "{subject} in {trust}");
        }
        let mut names = client
            .list_role_policies()
            .role_name(&planned.name)
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec();
        names.sort();
        let mut want: Vec<String> = planned.inline_policies.iter().map(|(n, _)| n.clone()).collect();
        want.sort();
        assert_eq!(names, want, "{}", planned.name);
        for (name, doc) in &planned.inline_policies {
            let got = client
                .get_role_policy()
                .role_name(&planned.name)
                .policy_name(name)
                .send()
                .await
                .unwrap();
            assert_eq!(
                irsa_policy::Policy::parse(&decode(got.policy_document())).unwrap(),
                irsa_policy::Policy::parse(doc).unwrap()
            );
        }
    }
    assert!(
        p.roles[0]
            .trusted
            .contains(&"system:serviceaccount:kubeflow:profiles-controller-service-account".to_owned())
    );

    let second = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(all(&second, |c| matches!(c, Change::Unchanged(_))), "{second:#?}");

    // The issuer's CA changes: the provider's thumbprint follows, once.
    let rotated = fetched_thumbprint(&Pki::new()).await;
    assert_ne!(rotated, tp);
    p.provider.thumbprints = vec![rotated.clone()];
    let update = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    let updated: Vec<&Change> = update.iter().filter(|c| matches!(c, Change::Updated(_))).collect();
    assert_eq!(updated.len(), 1, "{update:#?}");
    assert!(updated[0].to_string().contains("thumbprints"), "{update:#?}");
    assert_eq!(
        provider_thumbprints(&client, &p.provider.arn).await.unwrap(),
        [rotated.as_str()]
    );
    let again = apply(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(all(&again, |c| matches!(c, Change::Unchanged(_))), "{again:#?}");

    // A role of someone else's with a planned name is never touched.
    let foreign_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    client
        .create_role()
        .role_name("kf-user-other")
        .assume_role_policy_document(foreign_trust)
        .send()
        .await
        .unwrap();
    let mut other_cfg = cfg.clone();
    other_cfg.user_role_name = Some("kf-user-other".into());
    let mut other = plan(&other_cfg, &target(&account, ISSUER)).unwrap();
    other.roles.retain(|r| r.name == "kf-user-other");
    let changes = apply(&client, &other, "prod", false, |_| {}).await.unwrap();
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Skipped(s) if s.contains("kf-user-other"))),
        "{changes:#?}"
    );
    let kept = client
        .get_role()
        .role_name("kf-user-other")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(
        irsa_policy::Policy::parse(&decode(kept.assume_role_policy_document().unwrap())).unwrap(),
        irsa_policy::Policy::parse(foreign_trust).unwrap()
    );

    // Someone else's provider: its thumbprints are kept, ours added; teardown leaves it.
    let shared_issuer = "https://oidc.example.com/shared";
    let theirs = "f".repeat(40);
    client
        .create_open_id_connect_provider()
        .url(shared_issuer)
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list(&theirs)
        .send()
        .await
        .unwrap();
    let mut shared = plan(&cfg, &target(&account, shared_issuer)).unwrap();
    shared.roles.clear();
    shared.provider.thumbprints = vec![tp.clone()];
    let changes = apply(&client, &shared, "prod", false, |_| {}).await.unwrap();
    assert!(matches!(changes.as_slice(), [Change::Updated(_)]), "{changes:#?}");
    let mut both = provider_thumbprints(&client, &shared.provider.arn).await.unwrap();
    both.sort();
    let mut want = vec![theirs.clone(), tp.clone()];
    want.sort();
    assert_eq!(both, want);
    let down = teardown(&client, &shared, "prod", false, |_| {}).await.unwrap();
    assert!(
        matches!(down.as_slice(), [Change::Skipped(s)] if s.contains("not created by irsa setup")),
        "{down:#?}"
    );
    assert!(provider_thumbprints(&client, &shared.provider.arn).await.is_some());

    // The admin attaches a managed policy to kf-user, as kfctl's docs asked:
    // teardown detaches it (else DeleteRole fails) and leaves the policy itself.
    let managed = client
        .create_policy()
        .policy_name("kf-user-access")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    client
        .attach_role_policy()
        .role_name("kf-user-prod")
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();

    // Teardown: a dry run deletes nothing, then only what irsa setup created goes.
    let dry = teardown(&client, &p, "prod", true, |_| {}).await.unwrap();
    assert_eq!(
        dry.iter().filter(|c| matches!(c, Change::Deleted(_))).count(),
        3,
        "{dry:#?}"
    );
    assert!(role_exists(&client, "kf-admin-prod").await);
    assert!(provider_thumbprints(&client, &p.provider.arn).await.is_some());
    let down = teardown(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert_eq!(down, dry, "the dry run said what teardown did");
    assert!(!role_exists(&client, "kf-admin-prod").await);
    assert!(!role_exists(&client, "kf-user-prod").await);
    assert_eq!(provider_thumbprints(&client, &p.provider.arn).await, None);
    client.get_policy().policy_arn(&managed).send().await.unwrap();
    let down = teardown(&client, &other, "prod", false, |_| {}).await.unwrap();
    assert!(
        down.iter()
            .any(|c| matches!(c, Change::Skipped(s) if s.contains("kf-user-other"))),
        "{down:#?}"
    );
    assert!(role_exists(&client, "kf-user-other").await);
    // Torn down twice: nothing left to do, and it says so.
    let down = teardown(&client, &p, "prod", false, |_| {}).await.unwrap();
    assert!(all(&down, |c| matches!(c, Change::Skipped(_))), "{down:#?}");
}
