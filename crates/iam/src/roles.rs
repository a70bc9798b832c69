//! Role actions: roles, their inline policies, boundaries and attachments.

use crate::entities::{DEFAULT_MAX_SESSION_DURATION, ManagedPolicy, Role};
use crate::ids::IdKind;
use crate::layout::{self, ROLES};
use crate::names::{merge_tags, role_arn};
use crate::service::{
    ATTEMPTS, DESCRIPTION, ENTITY_NAME, Iam, PATH, PATH_PREFIX, check_document, check_new_tags, conflict, no_such,
    paging, required_tags, tag_keys, tag_params, tags_page, to_json, write_paging, xml,
};
use irsa_aws_query::{AwsError, ErrorCode, POLICY_PATTERN, QueryParams, TEXT_PATTERN, Validator};
use irsa_policy::{PolicyKind, policy_size};
use irsa_store::{Compare, Store, Txn};
use std::collections::BTreeMap;

/// Most managed policies attached to one role.
pub const MAX_ATTACHED_POLICIES: usize = 10;

pub(crate) fn no_role(name: &str) -> AwsError {
    no_such(format!("The role with name {name} cannot be found."))
}

pub(crate) fn not_attachable(arn: &str) -> AwsError {
    no_such(format!("Policy {arn} does not exist or is not attachable."))
}

fn role_name<'a>(v: &mut Validator<'a>) -> Option<&'a str> {
    v.string("RoleName", true, 1, 64, Some(ENTITY_NAME))
}

fn policy_arn_param<'a>(v: &mut Validator<'a>, name: &str) -> Option<&'a str> {
    v.string(name, true, 20, 2048, Some(TEXT_PATTERN))
}

impl<S: Store> Iam<S> {
    /// A role by name, with its revision, or `NoSuchEntity`.
    pub(crate) async fn role_rev(&self, name: &str) -> Result<(Role, u64), AwsError> {
        layout::get_role(&self.store, name).await?.ok_or_else(|| no_role(name))
    }

    /// A managed policy by ARN with its key and revision, if it exists in this account.
    pub(crate) async fn policy_rev(&self, arn: &str) -> Result<Option<(String, ManagedPolicy, u64)>, AwsError> {
        let Some(key) = self.policy_key_of(arn) else {
            return Ok(None);
        };
        Ok(layout::get::<S, ManagedPolicy>(&self.store, &key)
            .await?
            .filter(|(p, _)| p.arn == arn)
            .map(|(p, rev)| (key, p, rev)))
    }

    /// Read-modify-write of a role by name.
    async fn update_role_with(
        &self,
        name: &str,
        f: impl FnMut(&mut Role) -> Result<bool, AwsError>,
    ) -> Result<Role, AwsError> {
        self.update::<Role, _>(&layout::role_key(name), || no_role(name), f)
            .await
    }

    pub(crate) async fn create_role(&self, params: &QueryParams, now: i64) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let path = v.string("Path", false, 1, 512, Some(PATH)).unwrap_or("/");
        let doc = v.string("AssumeRolePolicyDocument", true, 1, 131_072, Some(POLICY_PATTERN));
        let description = v.string("Description", false, 0, 1000, Some(DESCRIPTION));
        let max = v.int("MaxSessionDuration", false, 3600, 43_200);
        let boundary = v.string("PermissionsBoundary", false, 20, 2048, Some(TEXT_PATTERN));
        let tags = tag_params(params)?;
        v.finish()?;
        let (Some(name), Some(doc)) = (name, doc) else {
            return Err(no_role(""));
        };
        let tags = check_new_tags(&tags)?;
        check_document(doc, PolicyKind::Trust, self.limits.trust, "ACLSizePerRole")?;
        for _ in 0..ATTEMPTS {
            let mut txn = Txn::new();
            if let Some(b) = boundary {
                let Some((key, mut p, rev)) = self.policy_rev(b).await? else {
                    return Err(no_such(format!("Scope ARN: {b} does not exist or is not attachable.")));
                };
                p.boundary_usage_count += 1;
                txn = txn.when(Compare::revision(key.clone(), rev)).put(key, to_json(&p)?);
            }
            let role = Role {
                name: name.to_owned(),
                path: path.to_owned(),
                id: self.new_id(IdKind::Role),
                arn: role_arn(&self.partition, &self.account, path, name),
                create_date: now,
                assume_role_policy: doc.to_owned(),
                description: description.map(str::to_owned),
                max_session_duration: max.unwrap_or(DEFAULT_MAX_SESSION_DURATION),
                permissions_boundary: boundary.map(str::to_owned),
                tags: tags.clone(),
                inline_policies: BTreeMap::new(),
                attached_policies: Vec::new(),
                sessions_revoked_before: None,
            };
            let key = layout::role_key(name);
            let txn = txn
                .when(Compare::absent(key.clone()))
                .when(Compare::absent(layout::role_id_key(&role.id)))
                .put(key, to_json(&role)?)
                .put(layout::role_id_key(&role.id), name.to_ascii_lowercase());
            if self.commit(txn).await? {
                return Ok(xml(|w| {
                    w.start("Role");
                    role.write_xml(w);
                    w.end();
                }));
            }
            if layout::get_role(&self.store, name).await?.is_some() {
                return Err(AwsError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("Role with name {name} already exists."),
                ));
            }
        }
        Err(conflict())
    }

    pub(crate) async fn get_role(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        v.finish()?;
        let name = name.unwrap_or_default();
        let (role, _) = self.role_rev(name).await?;
        Ok(xml(|w| {
            w.start("Role");
            role.write_xml(w);
            w.end();
        }))
    }

    pub(crate) async fn delete_role(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        v.finish()?;
        let name = name.unwrap_or_default();
        for _ in 0..ATTEMPTS {
            let (role, rev) = self.role_rev(name).await?;
            if !role.inline_policies.is_empty() {
                return Err(AwsError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            if !role.attached_policies.is_empty() {
                return Err(AwsError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            let key = layout::role_key(name);
            let mut txn = Txn::new()
                .when(Compare::revision(key.clone(), rev))
                .delete(key)
                .delete(layout::role_id_key(&role.id));
            if let Some(b) = &role.permissions_boundary
                && let Some((pkey, mut p, prev)) = self.policy_rev(b).await?
            {
                p.boundary_usage_count = p.boundary_usage_count.saturating_sub(1);
                txn = txn.when(Compare::revision(pkey.clone(), prev)).put(pkey, to_json(&p)?);
            }
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn list_roles(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let prefix = v.string("PathPrefix", false, 1, 512, Some(PATH_PREFIX)).unwrap_or("/");
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let (roles, next) = self
            .page::<Role>(ROLES, marker, max, |r| r.path.starts_with(prefix))
            .await?;
        Ok(xml(|w| {
            w.list("Roles", &roles, |w, r| r.write_list_xml(w));
            write_paging(w, next.as_deref());
        }))
    }

    pub(crate) async fn update_role(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let description = v.string("Description", false, 0, 1000, Some(DESCRIPTION));
        let max = v.int("MaxSessionDuration", false, 3600, 43_200);
        v.finish()?;
        let name = name.unwrap_or_default();
        self.update_role_with(name, |r| {
            if let Some(d) = description {
                r.description = Some(d.to_owned());
            }
            if let Some(m) = max {
                r.max_session_duration = m;
            }
            Ok(description.is_some() || max.is_some())
        })
        .await?;
        Ok(Some(String::new()))
    }

    pub(crate) async fn update_role_description(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let description = v.string("Description", true, 0, 1000, Some(DESCRIPTION));
        v.finish()?;
        let name = name.unwrap_or_default();
        let role = self
            .update_role_with(name, |r| {
                r.description = description.map(str::to_owned);
                Ok(true)
            })
            .await?;
        Ok(xml(|w| {
            w.start("Role");
            role.write_xml(w);
            w.end();
        }))
    }

    pub(crate) async fn update_assume_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let doc = v.string("PolicyDocument", true, 1, 131_072, Some(POLICY_PATTERN));
        v.finish()?;
        let (name, doc) = (name.unwrap_or_default(), doc.unwrap_or_default());
        // An unknown role is reported before a bad document, as IAM does.
        self.role_rev(name).await?;
        check_document(doc, PolicyKind::Trust, self.limits.trust, "ACLSizePerRole")?;
        self.update_role_with(name, |r| {
            r.assume_role_policy = doc.to_owned();
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn tag_role(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        v.finish()?;
        let tags = required_tags(params)?;
        check_new_tags(&tags)?;
        self.update_role_with(name.unwrap_or_default(), |r| {
            r.tags = merge_tags(&r.tags, &tags)?;
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn untag_role(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        v.finish()?;
        let keys = tag_keys(params)?;
        self.update_role_with(name.unwrap_or_default(), |r| {
            Ok(crate::names::remove_tags(&mut r.tags, &keys))
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn list_role_tags(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let (role, _) = self.role_rev(name.unwrap_or_default()).await?;
        tags_page(&role.tags, marker, max)
    }

    pub(crate) async fn put_role_boundary(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let arn = policy_arn_param(&mut v, "PermissionsBoundary");
        v.finish()?;
        let (name, arn) = (name.unwrap_or_default(), arn.unwrap_or_default());
        for _ in 0..ATTEMPTS {
            let (mut role, rev) = self.role_rev(name).await?;
            let Some((pkey, mut p, prev)) = self.policy_rev(arn).await? else {
                return Err(no_such(format!(
                    "Scope ARN: {arn} does not exist or is not attachable."
                )));
            };
            if role.permissions_boundary.as_deref() == Some(arn) {
                return Ok(None);
            }
            let rkey = layout::role_key(name);
            let mut txn = Txn::new().when(Compare::revision(rkey.clone(), rev));
            if let Some(old) = &role.permissions_boundary
                && let Some((okey, mut o, orev)) = self.policy_rev(old).await?
            {
                o.boundary_usage_count = o.boundary_usage_count.saturating_sub(1);
                txn = txn.when(Compare::revision(okey.clone(), orev)).put(okey, to_json(&o)?);
            }
            p.boundary_usage_count += 1;
            role.permissions_boundary = Some(arn.to_owned());
            txn = txn
                .when(Compare::revision(pkey.clone(), prev))
                .put(pkey, to_json(&p)?)
                .put(rkey, to_json(&role)?);
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn delete_role_boundary(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        v.finish()?;
        let name = name.unwrap_or_default();
        for _ in 0..ATTEMPTS {
            let (mut role, rev) = self.role_rev(name).await?;
            let Some(old) = role.permissions_boundary.take() else {
                return Ok(None);
            };
            let rkey = layout::role_key(name);
            let mut txn = Txn::new()
                .when(Compare::revision(rkey.clone(), rev))
                .put(rkey, to_json(&role)?);
            if let Some((okey, mut o, orev)) = self.policy_rev(&old).await? {
                o.boundary_usage_count = o.boundary_usage_count.saturating_sub(1);
                txn = txn.when(Compare::revision(okey.clone(), orev)).put(okey, to_json(&o)?);
            }
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn put_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let pname = v.string("PolicyName", true, 1, 128, Some(ENTITY_NAME));
        let doc = v.string("PolicyDocument", true, 1, 131_072, Some(POLICY_PATTERN));
        v.finish()?;
        let (name, pname, doc) = (
            name.unwrap_or_default(),
            pname.unwrap_or_default(),
            doc.unwrap_or_default(),
        );
        self.role_rev(name).await?;
        // The size counts against the role's aggregate, checked below.
        check_document(doc, PolicyKind::Identity, usize::MAX, "RolePolicySize")?;
        let limit = self.limits.inline;
        self.update_role_with(name, |r| {
            let total: usize = r
                .inline_policies
                .iter()
                .filter(|(n, _)| n.as_str() != pname)
                .map(|(_, d)| policy_size(d))
                .sum::<usize>()
                + policy_size(doc);
            if total > limit {
                return Err(AwsError::new(
                    ErrorCode::LimitExceeded,
                    format!("Maximum policy size of {limit} bytes exceeded for role {}", r.name),
                ));
            }
            r.inline_policies.insert(pname.to_owned(), doc.to_owned());
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn get_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let pname = v.string("PolicyName", true, 1, 128, Some(ENTITY_NAME));
        v.finish()?;
        let (name, pname) = (name.unwrap_or_default(), pname.unwrap_or_default());
        let (role, _) = self.role_rev(name).await?;
        let Some(doc) = role.inline_policies.get(pname) else {
            return Err(no_such(format!("The role policy with name {pname} cannot be found.")));
        };
        Ok(xml(|w| {
            w.element("RoleName", &role.name)
                .element("PolicyName", pname)
                .element("PolicyDocument", &irsa_aws_query::url_encode_policy(doc));
        }))
    }

    pub(crate) async fn delete_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let pname = v.string("PolicyName", true, 1, 128, Some(ENTITY_NAME));
        v.finish()?;
        let (name, pname) = (name.unwrap_or_default(), pname.unwrap_or_default());
        self.update_role_with(name, |r| {
            if r.inline_policies.remove(pname).is_none() {
                return Err(no_such(format!("The role policy with name {pname} cannot be found.")));
            }
            Ok(true)
        })
        .await?;
        Ok(None)
    }

    pub(crate) async fn list_role_policies(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let (role, _) = self.role_rev(name.unwrap_or_default()).await?;
        let names: Vec<&String> = role
            .inline_policies
            .keys()
            .filter(|n| marker.is_none_or(|m| n.as_str() > m))
            .collect();
        let shown = &names[..names.len().min(max)];
        let next = (names.len() > max)
            .then(|| shown.last().map(|s| s.to_string()))
            .flatten();
        Ok(xml(|w| {
            w.list("PolicyNames", shown, |w, n| {
                w.text(n);
            });
            write_paging(w, next.as_deref());
        }))
    }

    pub(crate) async fn attach_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let arn = policy_arn_param(&mut v, "PolicyArn");
        v.finish()?;
        let (name, arn) = (name.unwrap_or_default(), arn.unwrap_or_default());
        for _ in 0..ATTEMPTS {
            let (mut role, rev) = self.role_rev(name).await?;
            let Some((pkey, mut p, prev)) = self.policy_rev(arn).await? else {
                return Err(not_attachable(arn));
            };
            if role.attached_policies.iter().any(|a| a == arn) {
                return Ok(None);
            }
            if role.attached_policies.len() >= MAX_ATTACHED_POLICIES {
                return Err(AwsError::new(
                    ErrorCode::LimitExceeded,
                    format!("Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED_POLICIES}"),
                ));
            }
            role.attached_policies.push(arn.to_owned());
            p.attachment_count += 1;
            let rkey = layout::role_key(name);
            let txn = Txn::new()
                .when(Compare::revision(rkey.clone(), rev))
                .when(Compare::revision(pkey.clone(), prev))
                .put(rkey, to_json(&role)?)
                .put(pkey, to_json(&p)?);
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn detach_role_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let arn = policy_arn_param(&mut v, "PolicyArn");
        v.finish()?;
        let (name, arn) = (name.unwrap_or_default(), arn.unwrap_or_default());
        for _ in 0..ATTEMPTS {
            let (mut role, rev) = self.role_rev(name).await?;
            let before = role.attached_policies.len();
            role.attached_policies.retain(|a| a != arn);
            if role.attached_policies.len() == before {
                return Err(no_such(format!("Policy {arn} was not found.")));
            }
            let rkey = layout::role_key(name);
            let mut txn = Txn::new()
                .when(Compare::revision(rkey.clone(), rev))
                .put(rkey, to_json(&role)?);
            if let Some((pkey, mut p, prev)) = self.policy_rev(arn).await? {
                p.attachment_count = p.attachment_count.saturating_sub(1);
                txn = txn.when(Compare::revision(pkey.clone(), prev)).put(pkey, to_json(&p)?);
            }
            if self.commit(txn).await? {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn list_attached_role_policies(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        let prefix = v.string("PathPrefix", false, 1, 512, Some(PATH_PREFIX)).unwrap_or("/");
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let (role, _) = self.role_rev(name.unwrap_or_default()).await?;
        let mut items: Vec<(String, String)> = Vec::new();
        for arn in &role.attached_policies {
            let (pname, path) = match self.policy_rev(arn).await? {
                Some((_, p, _)) => (p.name, p.path),
                None => (arn.rsplit('/').next().unwrap_or(arn).to_owned(), "/".to_owned()),
            };
            if path.starts_with(prefix) {
                items.push((pname, arn.clone()));
            }
        }
        let start = match marker {
            None => 0,
            Some(m) => items
                .iter()
                .position(|(_, a)| a == m)
                .map(|i| i + 1)
                .ok_or_else(|| AwsError::new(ErrorCode::InvalidInput, "Invalid Marker."))?,
        };
        let rest = &items[start.min(items.len())..];
        let shown = &rest[..rest.len().min(max)];
        let next = (rest.len() > max)
            .then(|| shown.last().map(|(_, a)| a.clone()))
            .flatten();
        Ok(xml(|w| {
            w.list("AttachedPolicies", shown, |w, (n, a)| {
                w.element("PolicyName", n).element("PolicyArn", a);
            });
            write_paging(w, next.as_deref());
        }))
    }

    /// No instance profiles exist here: an empty list for an existing role
    /// (clients such as Terraform call this before deleting a role).
    pub(crate) async fn list_instance_profiles_for_role(
        &self,
        params: &QueryParams,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let name = role_name(&mut v);
        paging(&mut v);
        v.finish()?;
        self.role_rev(name.unwrap_or_default()).await?;
        Ok(xml(|w| {
            w.start("InstanceProfiles").end();
            write_paging(w, None);
        }))
    }

    pub(crate) async fn list_entities_for_policy(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = policy_arn_param(&mut v, "PolicyArn");
        let filter = v.string("EntityFilter", false, 0, 32, None);
        if let Some(f) = filter
            && !matches!(f, "User" | "Role" | "Group" | "LocalManagedPolicy" | "AWSManagedPolicy")
        {
            v.failure(
                Some(f),
                "EntityFilter",
                "Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]",
            );
        }
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
        let prefix = v.string("PathPrefix", false, 1, 512, Some(PATH_PREFIX)).unwrap_or("/");
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let arn = arn.unwrap_or_default();
        if self.policy_rev(arn).await?.is_none() {
            return Err(no_such(format!("Policy {arn} was not found.")));
        }
        let roles_wanted = matches!(filter, None | Some("Role"));
        let (roles, next) = if roles_wanted {
            self.page::<Role>(ROLES, marker, max, |r| {
                let attached = r.attached_policies.iter().any(|a| a == arn);
                let boundary = r.permissions_boundary.as_deref() == Some(arn);
                r.path.starts_with(prefix)
                    && match usage {
                        Some("PermissionsPolicy") => attached,
                        Some(_) => boundary,
                        None => attached || boundary,
                    }
            })
            .await?
        } else {
            (Vec::new(), None)
        };
        Ok(xml(|w| {
            w.start("PolicyGroups").end();
            w.start("PolicyUsers").end();
            w.list("PolicyRoles", &roles, |w, r| {
                w.element("RoleName", &r.name).element("RoleId", &r.id);
            });
            write_paging(w, next.as_deref());
        }))
    }
}
