//! What `irsa setup` creates: a pure function of the configuration and the target.

use crate::config::{ServiceAccountRef, SetupConfig};
use irsa_policy::trust::{OidcProvider, TrustEditError, TrustEditor, service_account_subject};
use irsa_policy::{Limits, PolicyKind, validate};
use serde::Serialize;

/// The tag every resource `irsa setup` creates carries; `irsa teardown`
/// deletes only what carries it.
pub const MANAGED_BY_TAG: (&str, &str) = ("irsa.dev/managed-by", "irsa-setup");
/// The tag naming the cluster a resource was created for.
pub const CLUSTER_TAG: &str = "irsa.dev/cluster";
/// The audience of projected service-account tokens for STS.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The inline policy that lets the profile controller edit profile roles' trust.
pub const CONTROLLER_POLICY_NAME: &str = "irsa-profile-controller";

const MAX_ROLE_NAME: usize = 64;

/// Where the plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The cluster's name (the KfDef name, or `--cluster-name`).
    pub cluster_name: String,
    /// The cluster's OIDC issuer URL (`https://…`).
    pub issuer_url: String,
    /// The account the roles live in.
    pub account: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The account's trust-policy size quota (2,048 unless raised).
    pub trust_limit: usize,
    /// Accept an `http://` issuer: only for irsa's own IAM running with local
    /// issuers allowed (`irsa up`); AWS refuses them.
    pub allow_http_issuer: bool,
}

/// The OIDC provider to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderPlan {
    /// The issuer URL as registered (`https://…`).
    pub url: String,
    /// The provider's ARN.
    pub arn: String,
    /// Audiences accepted: `sts.amazonaws.com`.
    pub client_ids: Vec<String>,
    /// SHA-1 thumbprints of the issuer's top CA certificate (lowercase hex):
    /// empty unless the issuer is behind a private CA ([`crate::issuer_thumbprints`]),
    /// since IAM trusts public CAs itself. [`plan`] leaves it empty; whoever
    /// fetched them sets it.
    pub thumbprints: Vec<String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// A role to create (or to find as planned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolePlan {
    /// The role's name.
    pub name: String,
    /// The role's ARN.
    pub arn: String,
    /// What it is for.
    pub description: String,
    /// Its trust policy (canonical JSON).
    pub trust_policy: String,
    /// The service accounts the trust policy names.
    pub trusted: Vec<String>,
    /// Inline policies: name → document.
    pub inline_policies: Vec<(String, String)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
}

/// Everything `irsa setup` makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The OIDC provider.
    pub provider: ProviderPlan,
    /// kf-admin, then kf-user.
    pub roles: Vec<RolePlan>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `enablePodIamPolicy` is off.
    #[error("`spec.enablePodIamPolicy` is not true in the configuration: nothing to set up")]
    Disabled,
    /// A role name over IAM's 64 characters (kfctl failed here on long cluster names).
    #[error("role name `{name}` is {len} characters, over IAM's limit of 64; set `spec.{field}` to a shorter name")]
    RoleNameTooLong {
        /// The name.
        name: String,
        /// Its length.
        len: usize,
        /// The configuration field that sets it.
        field: &'static str,
    },
    /// A role name with characters IAM does not accept.
    #[error("role name `{0}` may only hold letters, digits and +=,.@_-")]
    RoleNameInvalid(String),
    /// The issuer is not an https URL (or http, where allowed).
    #[error("the issuer `{0}` must be an https:// URL without query or fragment")]
    Issuer(String),
    /// A trust policy could not be written.
    #[error("trust policy of `{role}`: {source}")]
    Trust {
        /// The role.
        role: String,
        /// Why.
        #[source]
        source: TrustEditError,
    },
    /// A configured policy document is not valid.
    #[error("policy `{name}` for `{role}` is not valid: {message}")]
    Policy {
        /// The role.
        role: String,
        /// The policy's name.
        name: String,
        /// The first problem.
        message: String,
    },
    /// A service account name is not a Kubernetes name.
    #[error("{0}")]
    ServiceAccount(TrustEditError),
}

fn role_name(configured: Option<&str>, prefix: &str, cluster: &str, field: &'static str) -> Result<String, PlanError> {
    let name = configured.map_or_else(|| format!("{prefix}-{cluster}"), str::to_owned);
    let len = name.chars().count();
    if len > MAX_ROLE_NAME {
        return Err(PlanError::RoleNameTooLong { name, len, field });
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)) {
        return Err(PlanError::RoleNameInvalid(name));
    }
    Ok(name)
}

/// The policy that lets the profile controller read and edit the trust of
/// kf-user and of the allow-listed profile roles, and nothing else.
pub fn profile_controller_policy(user_role_arn: &str, patterns: &[String]) -> String {
    let mut resources = vec![user_role_arn.to_owned()];
    resources.extend(patterns.iter().cloned());
    resources.dedup();
    let raw = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EditProfileRoleTrust",
            "Effect": "Allow",
            "Action": ["iam:GetRole", "iam:UpdateAssumeRolePolicy"],
            "Resource": resources
        }]
    })
    .to_string();
    // The canonical form: member order never depends on serde_json's features.
    irsa_policy::Policy::parse(&raw).map_or(raw, |p| p.to_json())
}

fn tags(cluster: &str) -> Vec<(String, String)> {
    vec![
        (MANAGED_BY_TAG.0.to_owned(), MANAGED_BY_TAG.1.to_owned()),
        (CLUSTER_TAG.to_owned(), cluster.to_owned()),
    ]
}

fn trust(editor: &TrustEditor, role: &str, accounts: &[ServiceAccountRef]) -> Result<(String, Vec<String>), PlanError> {
    let mut doc = editor.trusting_nobody().document;
    let mut trusted = Vec::with_capacity(accounts.len());
    for sa in accounts {
        let subject = service_account_subject(&sa.namespace, &sa.name).map_err(PlanError::ServiceAccount)?;
        doc = editor
            .add_subject(Some(&doc), &subject)
            .map_err(|source| PlanError::Trust {
                role: role.to_owned(),
                source,
            })?
            .document;
        trusted.push(subject);
    }
    Ok((doc, trusted))
}

fn checked_policies(role: &str, list: &[(String, String)]) -> Result<Vec<(String, String)>, PlanError> {
    for (name, doc) in list {
        let r = validate(doc, PolicyKind::Identity, &Limits::default());
        if !r.valid {
            return Err(PlanError::Policy {
                role: role.to_owned(),
                name: name.clone(),
                message: r.errors.first().map(ToString::to_string).unwrap_or_default(),
            });
        }
    }
    Ok(list.to_vec())
}

/// The provider and roles for `config` in `target`.
pub fn plan(config: &SetupConfig, target: &Target) -> Result<Plan, PlanError> {
    if !config.enable_pod_iam_policy {
        return Err(PlanError::Disabled);
    }
    let url = target.issuer_url.trim_end_matches('/').to_owned();
    let scheme = if target.allow_http_issuer && url.starts_with("http://") {
        "http://"
    } else {
        "https://"
    };
    if !url.starts_with(scheme) || url.len() <= scheme.len() || url.contains(['?', '#']) {
        return Err(PlanError::Issuer(target.issuer_url.clone()));
    }
    let provider = OidcProvider::from_issuer(&target.partition, &target.account, &url)
        .map_err(|_| PlanError::Issuer(target.issuer_url.clone()))?;
    let editor = TrustEditor::new(provider.clone()).limit(target.trust_limit);
    let cluster = &target.cluster_name;
    let admin = role_name(config.admin_role_name.as_deref(), "kf-admin", cluster, "adminRoleName")?;
    let user = role_name(config.user_role_name.as_deref(), "kf-user", cluster, "userRoleName")?;
    let arn = |name: &str| format!("arn:{}:iam::{}:role/{name}", target.partition, target.account);
    let user_arn = arn(&user);

    let (admin_trust, admin_trusted) = trust(&editor, &admin, &config.admin_service_accounts)?;
    let mut admin_policies = vec![(
        CONTROLLER_POLICY_NAME.to_owned(),
        profile_controller_policy(&user_arn, &config.profile_role_arn_patterns),
    )];
    admin_policies.extend(checked_policies(&admin, &config.admin_policies)?);
    let (user_trust, user_trusted) = trust(&editor, &user, &config.user_service_accounts)?;

    Ok(Plan {
        provider: ProviderPlan {
            url,
            arn: provider.arn,
            client_ids: vec![STS_AUDIENCE.to_owned()],
            thumbprints: Vec::new(),
            tags: tags(cluster),
        },
        roles: vec![
            RolePlan {
                arn: arn(&admin),
                name: admin,
                description: format!("Kubeflow control plane of cluster {cluster} (irsa setup)"),
                trust_policy: admin_trust,
                trusted: admin_trusted,
                inline_policies: admin_policies,
                tags: tags(cluster),
            },
            RolePlan {
                arn: user_arn,
                name: user,
                description: format!("Kubeflow profiles of cluster {cluster}; profiles add their trust (irsa setup)"),
                trust_policy: user_trust,
                trusted: user_trusted,
                inline_policies: checked_policies("kf-user", &config.user_policies)?,
                tags: tags(cluster),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn target() -> Target {
        Target {
            cluster_name: "prod".into(),
            issuer_url: "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE".into(),
            account: "111122223333".into(),
            partition: "aws".into(),
            trust_limit: 2048,
            allow_http_issuer: false,
        }
    }

    fn seed() -> SetupConfig {
        parse_config("- kind: KfAwsPlugin\n  spec: {region: us-west-2, enablePodIamPolicy: true}")
            .unwrap()
            .config
    }

    #[test]
    fn the_seed_configuration_plans_provider_and_two_roles() {
        let p = plan(&seed(), &target()).unwrap();
        assert_eq!(
            p.provider.arn,
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
        );
        let names: Vec<&str> = p.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["kf-admin-prod", "kf-user-prod"]);
        assert_eq!(p.roles[0].trusted.len(), 4);
        assert!(
            p.roles[0]
                .trusted
                .contains(&"system:serviceaccount:kubeflow:profiles-controller-service-account".to_owned())
        );
        assert_eq!(p.roles[1].trusted, ["system:serviceaccount:kubeflow:kf-user"]);
        for r in &p.roles {
            let v = validate(&r.trust_policy, PolicyKind::Trust, &Limits::default());
            assert!(v.valid, "{:?}", v.errors);
            assert!(
                r.tags
                    .contains(&("irsa.dev/managed-by".to_owned(), "irsa-setup".to_owned()))
            );
        }
        insta::assert_snapshot!(p.roles[0].inline_policies[0].1, @r#"{"Version":"2012-10-17","Statement":[{"Sid":"EditProfileRoleTrust","Effect":"Allow","Action":["iam:GetRole","iam:UpdateAssumeRolePolicy"],"Resource":["arn:aws:iam::111122223333:role/kf-user-prod"]}]}"#);
    }

    #[test]
    fn kf_user_may_start_trusting_nobody() {
        let mut c = seed();
        c.user_service_accounts.clear();
        let p = plan(&c, &target()).unwrap();
        assert!(p.roles[1].trusted.is_empty());
        assert!(validate(&p.roles[1].trust_policy, PolicyKind::Trust, &Limits::default()).valid);
    }

    #[test]
    fn long_cluster_names_are_refused_with_a_way_out() {
        let mut t = target();
        t.cluster_name = "c".repeat(60);
        let e = plan(&seed(), &t).unwrap_err();
        assert!(e.to_string().contains("set `spec.adminRoleName`"), "{e}");
        let mut c = seed();
        c.admin_role_name = Some("kf-admin".into());
        c.user_role_name = Some("kf-user".into());
        assert!(plan(&c, &t).is_ok());
    }

    #[test]
    fn bad_inputs() {
        let mut t = target();
        t.issuer_url = "http://oidc.example.com".into();
        assert!(matches!(plan(&seed(), &t), Err(PlanError::Issuer(_))));
        t.allow_http_issuer = true;
        t.issuer_url = "http://127.0.0.1:4566/clusters/local".into();
        let p = plan(&seed(), &t).unwrap();
        assert_eq!(
            p.provider.arn,
            "arn:aws:iam::111122223333:oidc-provider/127.0.0.1:4566/clusters/local"
        );
        t.issuer_url = "ftp://x".into();
        assert!(matches!(plan(&seed(), &t), Err(PlanError::Issuer(_))));
        let mut c = seed();
        c.enable_pod_iam_policy = false;
        assert_eq!(plan(&c, &target()).unwrap_err(), PlanError::Disabled);
        let mut c = seed();
        c.admin_policies = vec![("bad".into(), "{\"Statement\":[]}".into())];
        assert!(matches!(plan(&c, &target()), Err(PlanError::Policy { .. })));
        let mut c = seed();
        c.admin_service_accounts = vec![ServiceAccountRef {
            namespace: "Kubeflow".into(),
            name: "x".into(),
        }];
        assert!(matches!(plan(&c, &target()), Err(PlanError::ServiceAccount(_))));
    }
}
