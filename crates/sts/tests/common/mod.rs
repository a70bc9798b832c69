//! Test support: an in-process HTTPS OIDC issuer (own CA) serving irsa_oidc's documents, a
//! store with an IAM OIDC provider and roles written through irsa_iam's layout, and an STS
//! over it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use irsa_aws_query::{AwsError, QueryParams};
use irsa_iam::layout::{oidc_provider_key, policy_id_key, policy_key, role_id_key, role_key};
use irsa_iam::{ManagedPolicy, OidcProvider, PolicyVersion, Role};
use irsa_oidc::{FetchOptions, IssuerDocuments, KeySpec, SigningKey, TokenParams, mint_token};
use irsa_store::{RedbStore, Store, Txn};
use irsa_sts::{RequestInfo, Sts, StsConfig};

pub const ACCOUNT: &str = "111122223333";
pub const AUD: &str = "sts.amazonaws.com";

pub use irsa_testkit::Pki;

pub struct Fixture {
    pub sts: Sts<RedbStore>,
    pub store: RedbStore,
    pub key: SigningKey,
    /// `https://127.0.0.1:PORT/id/TEST`
    pub issuer: String,
    /// `127.0.0.1:PORT/id/TEST`
    pub prefix: String,
    pub provider_arn: String,
    pub config: StsConfig,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    pub async fn new() -> Self {
        let pki = Pki::new();
        let key = SigningKey::generate(KeySpec::Rsa(2048)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let prefix = format!("127.0.0.1:{port}/id/TEST");
        let issuer = format!("https://{prefix}");
        let docs = IssuerDocuments::new(&issuer, None, &[key.public_key().clone()], Duration::from_secs(3600)).unwrap();
        let tls = Arc::new(irsa_oidc::serve::tls_config(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap());
        let server = tokio::spawn(async move {
            let _ = irsa_oidc::serve::serve(listener, irsa_oidc::router(docs), Some(tls), std::future::pending()).await;
        });
        let store = RedbStore::in_memory().unwrap();
        let provider_arn = format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{prefix}");
        // As IAM stores it: the URL without its scheme.
        let provider = OidcProvider {
            url: prefix.clone(),
            arn: provider_arn.clone(),
            client_ids: vec![AUD.to_owned()],
            thumbprints: vec![],
            tags: vec![],
            create_date: 0,
        };
        put(
            &store,
            &oidc_provider_key(&prefix),
            &serde_json::to_vec(&provider).unwrap(),
        )
        .await;
        let mut config = StsConfig::new(ACCOUNT);
        config.fetch = FetchOptions {
            extra_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
            ..FetchOptions::default()
        };
        let sts = Sts::open(store.clone(), config.clone()).await.unwrap();
        Fixture {
            sts,
            store,
            key,
            issuer,
            prefix,
            provider_arn,
            config,
            _server: server,
        }
    }

    /// A projected service-account token for `ns:sa`.
    pub fn token(&self, ns: &str, sa: &str) -> String {
        mint_token(&self.key, &TokenParams::new(&self.issuer, ns, sa)).unwrap()
    }

    /// An IRSA trust policy for `system:serviceaccount:<ns>:<sa>`.
    pub fn trust(&self, ns: &str, sa: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{p}:sub":"system:serviceaccount:{ns}:{sa}","{p}:aud":"sts.amazonaws.com"}}}}}}]}}"#,
            self.provider_arn,
            p = self.prefix
        )
    }

    pub async fn role(&self, name: &str, trust: &str, inline: &[(&str, &str)]) -> Role {
        let n: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_uppercase();
        let id = format!("AROA{:0<17}", n.chars().take(17).collect::<String>());
        let role = Role {
            name: name.to_owned(),
            path: "/".into(),
            id,
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
            create_date: 0,
            assume_role_policy: trust.to_owned(),
            description: None,
            max_session_duration: 3600,
            permissions_boundary: None,
            tags: vec![],
            inline_policies: inline.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            attached_policies: vec![],
            sessions_revoked_before: None,
        };
        self.save_role(&role).await;
        role
    }

    pub async fn save_role(&self, role: &Role) {
        let outcome = self
            .store
            .txn(
                Txn::new()
                    .put(role_key(&role.name), serde_json::to_vec(role).unwrap())
                    .put(role_id_key(&role.id), role.name.to_ascii_lowercase()),
            )
            .await
            .unwrap();
        assert!(outcome.is_committed());
    }

    pub async fn managed_policy(&self, name: &str, doc: &str) -> String {
        let arn = format!("arn:aws:iam::{ACCOUNT}:policy/{name}");
        let p = ManagedPolicy {
            name: name.to_owned(),
            path: "/".into(),
            id: format!("ANPA{:0<17}", name.to_uppercase().chars().take(10).collect::<String>()),
            arn: arn.clone(),
            description: None,
            default_version: "v1".into(),
            versions: vec![PolicyVersion {
                id: "v1".into(),
                document: doc.to_owned(),
                create_date: 0,
            }],
            next_version: 2,
            attachment_count: 0,
            boundary_usage_count: 0,
            tags: vec![],
            create_date: 0,
            update_date: 0,
        };
        put(&self.store, &policy_key(name), &serde_json::to_vec(&p).unwrap()).await;
        put(&self.store, &policy_id_key(&p.id), name.to_ascii_lowercase().as_bytes()).await;
        arn
    }

    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<String, AwsError> {
        self.call_as(action, params, None).await
    }

    pub async fn call_as(
        &self,
        action: &str,
        params: &[(&str, &str)],
        caller: Option<&irsa_sts::Caller>,
    ) -> Result<String, AwsError> {
        let q = query(action, params);
        self.sts.handle(action, &q, caller, &info(), now()).await
    }

    pub async fn web_identity(&self, role: &str, token: &str, extra: &[(&str, &str)]) -> Result<String, AwsError> {
        let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
        let mut params = vec![
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "app1"),
            ("WebIdentityToken", token),
        ];
        params.extend_from_slice(extra);
        self.call("AssumeRoleWithWebIdentity", &params).await
    }
}

pub async fn put(store: &RedbStore, key: &str, value: &[u8]) {
    let outcome = store.txn(Txn::new().put(key, value.to_vec())).await.unwrap();
    assert!(outcome.is_committed());
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn query(action: &str, params: &[(&str, &str)]) -> QueryParams {
    let mut body = format!("Action={action}&Version=2011-06-15");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    QueryParams::parse(body.as_bytes()).unwrap()
}

pub fn info() -> RequestInfo {
    RequestInfo {
        source_ip: Some("10.0.0.7".parse().unwrap()),
        secure_transport: true,
        user_agent: Some("aws-sdk-rust/1.0".into()),
        region: "us-east-1".into(),
    }
}

pub fn now() -> i64 {
    irsa_oidc::token::unix_now()
}

/// The text of the first `<tag>` element.
pub fn element(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&close).unwrap() + start;
    xml[start..end].to_owned()
}

/// The credentials of an assume response: (access key id, secret, session token).
pub fn credentials(xml: &str) -> (String, String, String) {
    (
        element(xml, "AccessKeyId"),
        element(xml, "SecretAccessKey"),
        element(xml, "SessionToken"),
    )
}
