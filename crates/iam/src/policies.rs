//! Customer managed policies and their versions.

use crate::entities::{ManagedPolicy, PolicyVersion};
use crate::ids::IdKind;
use crate::layout::{self, POLICIES};
use crate::names::{merge_tags, policy_arn};
use crate::service::{
    ATTEMPTS, DESCRIPTION, ENTITY_NAME, Iam, PATH, PATH_PREFIX, check_document, check_new_tags, conflict, no_such,
    paging, required_tags, tag_keys, tag_params, tags_page, to_json, write_paging, xml,
};
use irsa_aws_query::{AwsError, ErrorCode, POLICY_PATTERN, Pattern, QueryParams, TEXT_PATTERN, Validator};
use irsa_policy::PolicyKind;
use irsa_store::{Compare, Store, Txn};

/// Most versions a managed policy keeps.
pub const MAX_VERSIONS: usize = 5;

/// `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?`: version ids.
const VERSION_ID: Pattern = Pattern {
    text: r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?",
    check: |s| {
        let Some(rest) = s.strip_prefix('v') else { return false };
        let (num, suffix) = rest.split_once('.').unwrap_or((rest, ""));
        num.starts_with(|c: char| ('1'..='9').contains(&c))
            && num.chars().all(|c| c.is_ascii_digit())
            && suffix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    },
};

fn not_found(arn: &str) -> AwsError {
    no_such(format!("Policy {arn} was not found."))
}

fn no_version(arn: &str, version: &str) -> AwsError {
    no_such(format!(
        "Policy {arn} version {version} does not exist or is not attachable."
    ))
}

fn arn_param<'a>(v: &mut Validator<'a>) -> Option<&'a str> {
    v.string("PolicyArn", true, 20, 2048, Some(TEXT_PATTERN))
}

impl<S: Store> Iam<S> {
    async fn update_policy_with(
        &self,
        arn: &str,
        f: impl FnMut(&mut ManagedPolicy) -> Result<bool, AwsError>,
    ) -> Result<ManagedPolicy, AwsError> {
        let key = self.policy_key_of(arn).ok_or_else(|| not_found(arn))?;
        let mut f = f;
        let p = self
            .update::<ManagedPolicy, _>(
                &key,
                || not_found(arn),
                |p| {
                    if p.arn != arn {
                        return Err(not_found(arn));
                    }
                    f(p)
                },
            )
            .await?;
        Ok(p)
    }

    async fn policy_or_404(&self, arn: &str) -> Result<ManagedPolicy, AwsError> {
        Ok(self.policy_rev(arn).await?.ok_or_else(|| not_found(arn))?.1)
    }

    pub(crate) async fn create_policy(&self, params: &QueryParams, now: i64) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = v.string("PolicyName", true, 1, 128, Some(ENTITY_NAME));
        let path = v.string("Path", false, 1, 512, Some(PATH)).unwrap_or("/");
        let doc = v.string("PolicyDocument", true, 1, 131_072, Some(POLICY_PATTERN));
        let description = v.string("Description", false, 0, 1000, Some(DESCRIPTION));
        let tags = tag_params(params)?;
        v.finish()?;
        let (name, doc) = (name.unwrap_or_default(), doc.unwrap_or_default());
        let tags = check_new_tags(&tags)?;
        check_document(doc, PolicyKind::Managed, self.limits.managed, "PolicySize")?;
        for _ in 0..ATTEMPTS {
            let policy = ManagedPolicy {
                name: name.to_owned(),
                path: path.to_owned(),
                id: self.new_id(IdKind::Policy),
                arn: policy_arn(&self.partition, &self.account, path, name),
                description: description.map(str::to_owned),
                default_version: "v1".to_owned(),
                versions: vec![PolicyVersion {
                    id: "v1".to_owned(),
                    document: doc.to_owned(),
                    create_date: now,
                }],
                next_version: 2,
                attachment_count: 0,
                boundary_usage_count: 0,
                tags: tags.clone(),
                create_date: now,
                update_date: now,
            };
            let key = layout::policy_key(name);
            let txn = Txn::new()
                .when(Compare::absent(key.clone()))
                .when(Compare::absent(layout::policy_id_key(&policy.id)))
                .put(key.clone(), to_json(&policy)?)
                .put(layout::policy_id_key(&policy.id), name.to_ascii_lowercase());
            if self.commit(txn).await? {
                return Ok(xml(|w| {
                    w.start("Policy");
                    policy.write_xml(w);
                    w.end();
                }));
            }
            // The name is taken, or (rarely) the random id: then try another id.
            if layout::get::<S, ManagedPolicy>(&self.store, &key).await?.is_some() {
                return Err(AwsError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("A policy called {name} already exists. Duplicate names are not allowed."),
                ));
            }
        }
        Err(conflict())
    }

    pub(crate) async fn get_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        v.finish()?;
        let p = self.policy_or_404(arn.unwrap_or_default()).await?;
        Ok(xml(|w| {
            w.start("Policy");
            p.write_xml(w);
            w.end();
        }))
    }

    pub(crate) async fn delete_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        v.finish()?;
        let arn = arn.unwrap_or_default();
        for _ in 0..ATTEMPTS {
            let Some((key, p, rev)) = self.policy_rev(arn).await? else {
                return Err(not_found(arn));
            };
            if p.attachment_count > 0 || p.boundary_usage_count > 0 {
                return Err(AwsError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete a policy attached to entities.",
                ));
            }
            if p.versions.len() > 1 {
                return Err(AwsError::new(
                    ErrorCode::DeleteConflict,
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                ));
            }
            let txn = Txn::new()
                .when(Compare::revision(key.clone(), rev))
                .delete(key)
                .delete(layout::policy_id_key(&p.id));
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn list_policies(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let scope = v.string("Scope", false, 0, 16, None);
        if let Some(s) = scope
            && !matches!(s, "All" | "AWS" | "Local")
        {
            v.failure(
                Some(s),
                "Scope",
                "Member must satisfy enum value set: [All, AWS, Local]",
            );
        }
        let only_attached = v.boolean("OnlyAttached").unwrap_or(false);
        let prefix = v.string("PathPrefix", false, 1, 512, Some(PATH_PREFIX)).unwrap_or("/");
        let usage = v.string("PolicyUsageFilter", false, 0, 32, None);
        if let Some(u) = usage
            && !matches!(u, "PermissionsPolicy" | "PermissionsBoundary")
        {
            v.failure(
                Some(u),
                "PolicyUsageFilter",
                "Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]",
            );
        }
        let (marker, max) = paging(&mut v);
        v.finish()?;
        // No AWS managed policies live here.
        let (policies, next) = if scope == Some("AWS") {
            (Vec::new(), None)
        } else {
            self.page::<ManagedPolicy>(POLICIES, marker, max, |p| {
                p.path.starts_with(prefix)
                    && (!only_attached
                        || match usage {
                            Some("PermissionsBoundary") => p.boundary_usage_count > 0,
                            Some(_) => p.attachment_count > 0,
                            None => p.attachment_count > 0 || p.boundary_usage_count > 0,
                        })
            })
            .await?
        };
        Ok(xml(|w| {
            w.list("Policies", &policies, |w, p| p.write_list_xml(w));
            write_paging(w, next.as_deref());
        }))
    }

    pub(crate) async fn create_policy_version(
        &self,
        params: &QueryParams,
        now: i64,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let doc = v.string("PolicyDocument", true, 1, 131_072, Some(POLICY_PATTERN));
        let set_default = v.boolean("SetAsDefault").unwrap_or(false);
        v.finish()?;
        let (arn, doc) = (arn.unwrap_or_default(), doc.unwrap_or_default());
        self.policy_or_404(arn).await?;
        check_document(doc, PolicyKind::Managed, self.limits.managed, "PolicySize")?;
        let mut created: Option<PolicyVersion> = None;
        self.update_policy_with(arn, |p| {
            if p.versions.len() >= MAX_VERSIONS {
                return Err(AwsError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, you must delete an existing version."
                    ),
                ));
            }
            let version = PolicyVersion {
                id: format!("v{}", p.next_version),
                document: doc.to_owned(),
                create_date: now,
            };
            p.next_version += 1;
            if set_default {
                p.default_version = version.id.clone();
            }
            p.update_date = now;
            p.versions.push(version.clone());
            created = Some(version);
            Ok(true)
        })
        .await?;
        let version = created.ok_or_else(|| not_found(arn))?;
        Ok(xml(|w| {
            w.start("PolicyVersion");
            version.write_xml(w, set_default, false);
            w.end();
        }))
    }

    pub(crate) async fn get_policy_version(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let version = v.string("VersionId", true, 1, 128, Some(VERSION_ID));
        v.finish()?;
        let (arn, version) = (arn.unwrap_or_default(), version.unwrap_or_default());
        let p = self.policy_or_404(arn).await?;
        let Some(pv) = p.versions.iter().find(|x| x.id == version) else {
            return Err(no_version(arn, version));
        };
        Ok(xml(|w| {
            w.start("PolicyVersion");
            pv.write_xml(w, p.default_version == pv.id, true);
            w.end();
        }))
    }

    pub(crate) async fn list_policy_versions(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let p = self.policy_or_404(arn.unwrap_or_default()).await?;
        // Newest first, as IAM lists them.
        let all: Vec<&PolicyVersion> = p.versions.iter().rev().collect();
        let start = match marker {
            None => 0,
            Some(m) => all
                .iter()
                .position(|x| x.id == m)
                .map(|i| i + 1)
                .ok_or_else(|| AwsError::new(ErrorCode::InvalidInput, "Invalid Marker."))?,
        };
        let rest = &all[start.min(all.len())..];
        let shown = &rest[..rest.len().min(max)];
        let next = (rest.len() > max).then(|| shown.last().map(|x| x.id.clone())).flatten();
        Ok(xml(|w| {
            w.list("Versions", shown, |w, pv| {
                pv.write_xml(w, pv.id == p.default_version, false)
            });
            write_paging(w, next.as_deref());
        }))
    }

    pub(crate) async fn delete_policy_version(
        &self,
        params: &QueryParams,
        now: i64,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let version = v.string("VersionId", true, 1, 128, Some(VERSION_ID));
        v.finish()?;
        let (arn, version) = (arn.unwrap_or_default(), version.unwrap_or_default());
        self.update_policy_with(arn, |p| {
            if p.default_version == version {
                return Err(AwsError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete the default version of a policy.",
                ));
            }
            let before = p.versions.len();
            p.versions.retain(|x| x.id != version);
            if p.versions.len() == before {
                return Err(no_version(arn, version));
            }
            p.update_date = now;
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn set_default_policy_version(
        &self,
        params: &QueryParams,
        now: i64,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let version = v.string("VersionId", true, 1, 128, Some(VERSION_ID));
        v.finish()?;
        let (arn, version) = (arn.unwrap_or_default(), version.unwrap_or_default());
        self.update_policy_with(arn, |p| {
            if !p.versions.iter().any(|x| x.id == version) {
                return Err(no_version(arn, version));
            }
            if p.default_version == version {
                return Ok(false);
            }
            p.default_version = version.to_owned();
            p.update_date = now;
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn tag_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        v.finish()?;
        let tags = required_tags(params)?;
        check_new_tags(&tags)?;
        self.update_policy_with(arn.unwrap_or_default(), |p| {
            p.tags = merge_tags(&p.tags, &tags)?;
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn untag_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        v.finish()?;
        let keys = tag_keys(params)?;
        self.update_policy_with(arn.unwrap_or_default(), |p| {
            Ok(crate::names::remove_tags(&mut p.tags, &keys))
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn list_policy_tags(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = arn_param(&mut v);
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let p = self.policy_or_404(arn.unwrap_or_default()).await?;
        tags_page(&p.tags, marker, max)
    }
}
