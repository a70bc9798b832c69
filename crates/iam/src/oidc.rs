//! OIDC identity provider actions.

use crate::entities::{OidcProvider, write_tags};
use crate::layout::{self, OIDC_PROVIDERS};
use crate::names::{merge_tags, oidc_provider_arn};
use crate::service::{
    Iam, check_new_tags, conflict, no_such, paging, required_tags, tag_keys, tag_params, tags_page, to_json, xml,
};
use irsa_aws_query::{AwsError, ErrorCode, QueryParams, TEXT_PATTERN, Validator};
use irsa_store::{Compare, Store, Txn};

/// Most client ids per provider.
pub const MAX_CLIENT_IDS: usize = 100;
/// Most thumbprints per provider.
pub const MAX_THUMBPRINTS: usize = 5;
/// Most OIDC providers per account.
pub const MAX_PROVIDERS: usize = 100;

fn invalid_url() -> AwsError {
    AwsError::new(ErrorCode::ValidationError, "Invalid Open ID Connect Provider URL")
}

fn rejected_url() -> AwsError {
    AwsError::new(ErrorCode::InvalidInput, "Invalid Open ID Connect Provider URL.")
}

/// The provider URL without `https://`, if IAM accepts it: https only, a
/// host of letters, digits, dots and dashes (or an IP literal), no port,
/// query, fragment or user info. A trailing `/` is kept: it makes another
/// provider, as in IAM. Errors as IAM words them: `ValidationError` for what
/// is not a URL at all, `InvalidInput` for a URL IAM refuses.
pub fn check_provider_url(url: &str) -> Result<&str, AwsError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid_url());
    };
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(AwsError::new(
            ErrorCode::InvalidInput,
            "Invalid Open ID Connect Provider URL. The URL must begin with https://.",
        ));
    }
    if scheme != "https" {
        return Err(rejected_url());
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid_url());
    }
    let host_ok = host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let bad = !host_ok
        || rest.contains('?')
        || rest.contains('#')
        || rest.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad { Err(rejected_url()) } else { Ok(rest) }
}

/// The development form of [`check_provider_url`] (`irsa server --allow-http-issuers`):
/// `http://` and ports are accepted, for issuers on a laptop or in CI. Returns the
/// scheme-less host and path (the ARN's and the condition keys' prefix) and the URL as
/// stored: scheme-less for https, whole for http, which is how the STS tells them apart.
pub fn check_local_provider_url(url: &str) -> Result<(&str, String), AwsError> {
    let (rest, stored) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, rest.to_owned())
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, url.to_owned())
    } else {
        return Err(AwsError::new(
            ErrorCode::InvalidInput,
            "Invalid Open ID Connect Provider URL. The URL must begin with https:// (or http:// in development mode).",
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let bad = name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        || port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
        || rest.contains('?')
        || rest.contains('#')
        || rest.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad { Err(rejected_url()) } else { Ok((rest, stored)) }
}

fn not_found(arn: &str) -> AwsError {
    no_such(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// Thumbprints: exactly 40 characters each (IAM does not insist on hex), at
/// most five; stored lowercase, once each.
fn check_thumbprints(list: &[&str]) -> Result<Vec<String>, AwsError> {
    if list.len() > MAX_THUMBPRINTS {
        return Err(AwsError::new(
            ErrorCode::InvalidInput,
            "Thumbprint list must contain fewer than 5 entries.",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in list {
        if t.chars().count() != 40 {
            return Err(AwsError::new(
                ErrorCode::InvalidInput,
                "Thumbprint must be exactly 40 characters.",
            ));
        }
        let t = t.to_ascii_lowercase();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_client_ids(v: &mut Validator<'_>, list: &[&str]) {
    for (i, c) in list.iter().enumerate() {
        let name = format!("ClientIDList.member.{}", i + 1);
        let n = c.chars().count();
        if n == 0 || n > 255 {
            v.failure(Some(c), &name, "Member must have length between 1 and 255");
        }
    }
}

fn limit(quota: &str, n: usize) -> AwsError {
    AwsError::new(
        ErrorCode::LimitExceeded,
        format!("Cannot exceed quota for {quota}: {n}"),
    )
}

impl<S: Store> Iam<S> {
    fn provider_arn_param<'a>(&self, params: &'a QueryParams) -> Result<&'a str, AwsError> {
        let mut v = Validator::new(params);
        let arn = v.string("OpenIDConnectProviderArn", true, 20, 2048, Some(TEXT_PATTERN));
        v.finish()?;
        arn.ok_or_else(|| not_found(""))
    }

    fn provider_key_checked(&self, arn: &str) -> Result<String, AwsError> {
        self.oidc_key(arn).ok_or_else(|| not_found(arn))
    }

    pub(crate) async fn create_oidc_provider(
        &self,
        params: &QueryParams,
        now: i64,
    ) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let url = v.string("Url", true, 1, 255, None);
        let client_ids = params.list("ClientIDList", None)?;
        let thumbprints = params.list("ThumbprintList", None)?;
        check_client_ids(&mut v, &client_ids);
        let tags = tag_params(params)?;
        v.finish()?;
        let url = url.ok_or_else(invalid_url)?;
        let (host_path, stored_url) = if self.local_issuers {
            check_local_provider_url(url)?
        } else {
            let h = check_provider_url(url)?;
            (h, h.to_owned())
        };
        let tps = check_thumbprints(&thumbprints)?;
        if client_ids.len() > MAX_CLIENT_IDS {
            return Err(limit("ClientIdsPerOpenIdConnectProvider", MAX_CLIENT_IDS));
        }
        let tags = check_new_tags(&tags)?;
        let mut ids: Vec<String> = Vec::new();
        for c in client_ids {
            if !ids.iter().any(|x| x == c) {
                ids.push(c.to_owned());
            }
        }
        let existing = self
            .store
            .list(OIDC_PROVIDERS, None, MAX_PROVIDERS)
            .await
            .map_err(|e| layout::store_failure(&e))?;
        if existing.entries.len() >= MAX_PROVIDERS {
            return Err(limit("OpenIdConnectProvidersPerAccount", MAX_PROVIDERS));
        }
        let provider = OidcProvider {
            url: stored_url,
            arn: oidc_provider_arn(&self.partition, &self.account, host_path),
            client_ids: ids,
            thumbprints: tps,
            tags,
            create_date: now,
        };
        let key = layout::oidc_provider_key(host_path);
        let txn = Txn::new()
            .when(Compare::absent(key.clone()))
            .put(key, to_json(&provider)?);
        if !self.commit(txn).await? {
            return Err(AwsError::new(
                ErrorCode::EntityAlreadyExists,
                format!("Provider with url {url} already exists."),
            ));
        }
        Ok(xml(|w| {
            w.element("OpenIDConnectProviderArn", &provider.arn);
            if !provider.tags.is_empty() {
                write_tags(w, &provider.tags);
            }
        }))
    }

    pub(crate) async fn get_oidc_provider(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let arn = self.provider_arn_param(params)?;
        let key = self.provider_key_checked(arn)?;
        let Some((p, _)) = layout::get::<S, OidcProvider>(&self.store, &key).await? else {
            return Err(not_found(arn));
        };
        Ok(xml(|w| p.write_xml(w)))
    }

    pub(crate) async fn list_oidc_providers(&self) -> Result<Option<String>, AwsError> {
        let (all, _) = self
            .page::<OidcProvider>(OIDC_PROVIDERS, None, usize::MAX - 1, |_| true)
            .await?;
        Ok(xml(|w| {
            w.list("OpenIDConnectProviderList", &all, |w, p| {
                w.element("Arn", &p.arn);
            });
        }))
    }

    pub(crate) async fn delete_oidc_provider(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let arn = self.provider_arn_param(params)?;
        let key = self.provider_key_checked(arn)?;
        for _ in 0..crate::service::ATTEMPTS {
            let Some((_, rev)) = layout::get::<S, OidcProvider>(&self.store, &key).await? else {
                return Err(not_found(arn));
            };
            if self
                .commit(Txn::new().when(Compare::revision(key.clone(), rev)).delete(key.clone()))
                .await?
            {
                return Ok(None);
            }
        }
        Err(conflict())
    }

    pub(crate) async fn add_client_id(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = v.string("OpenIDConnectProviderArn", true, 20, 2048, Some(TEXT_PATTERN));
        let client = v.string("ClientID", true, 1, 255, None);
        v.finish()?;
        let (Some(arn), Some(client)) = (arn, client) else {
            return Err(not_found(""));
        };
        let key = self.provider_key_checked(arn)?;
        self.update::<OidcProvider, _>(
            &key,
            || not_found(arn),
            |p| {
                if p.client_ids.iter().any(|c| c == client) {
                    return Ok(false);
                }
                if p.client_ids.len() >= MAX_CLIENT_IDS {
                    return Err(limit("ClientIdsPerOpenIdConnectProvider", MAX_CLIENT_IDS));
                }
                p.client_ids.push(client.to_owned());
                Ok(true)
            },
        )
        .await?;
        Ok(None)
    }

    pub(crate) async fn remove_client_id(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = v.string("OpenIDConnectProviderArn", true, 20, 2048, Some(TEXT_PATTERN));
        let client = v.string("ClientID", true, 1, 255, None);
        v.finish()?;
        let (Some(arn), Some(client)) = (arn, client) else {
            return Err(not_found(""));
        };
        let key = self.provider_key_checked(arn)?;
        self.update::<OidcProvider, _>(
            &key,
            || not_found(arn),
            |p| {
                let before = p.client_ids.len();
                p.client_ids.retain(|c| c != client);
                Ok(p.client_ids.len() != before)
            },
        )
        .await?;
        Ok(None)
    }

    pub(crate) async fn update_thumbprints(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = v.string("OpenIDConnectProviderArn", true, 20, 2048, Some(TEXT_PATTERN));
        let list = params.list("ThumbprintList", None)?;
        if list.is_empty() {
            v.failure(None, "ThumbprintList", "Member must not be null");
        }
        v.finish()?;
        let Some(arn) = arn else { return Err(not_found("")) };
        let tps = check_thumbprints(&list)?;
        let key = self.provider_key_checked(arn)?;
        self.update::<OidcProvider, _>(
            &key,
            || not_found(arn),
            |p| {
                p.thumbprints = tps.clone();
                Ok(true)
            },
        )
        .await?;
        Ok(None)
    }

    pub(crate) async fn tag_oidc_provider(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let arn = self.provider_arn_param(params)?;
        let tags = required_tags(params)?;
        check_new_tags(&tags)?;
        let key = self.provider_key_checked(arn)?;
        self.update::<OidcProvider, _>(
            &key,
            || not_found(arn),
            |p| {
                p.tags = merge_tags(&p.tags, &tags)?;
                Ok(true)
            },
        )
        .await?;
        Ok(None)
    }

    pub(crate) async fn untag_oidc_provider(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let arn = self.provider_arn_param(params)?;
        let keys = tag_keys(params)?;
        let key = self.provider_key_checked(arn)?;
        self.update::<OidcProvider, _>(
            &key,
            || not_found(arn),
            |p| Ok(crate::names::remove_tags(&mut p.tags, &keys)),
        )
        .await?;
        Ok(None)
    }

    pub(crate) async fn list_oidc_provider_tags(&self, params: &QueryParams) -> Result<Option<String>, AwsError> {
        let mut v = Validator::new(params);
        let arn = v.string("OpenIDConnectProviderArn", true, 20, 2048, Some(TEXT_PATTERN));
        let (marker, max) = paging(&mut v);
        v.finish()?;
        let Some(arn) = arn else { return Err(not_found("")) };
        let key = self.provider_key_checked(arn)?;
        let Some((p, _)) = layout::get::<S, OidcProvider>(&self.store, &key).await? else {
            return Err(not_found(arn));
        };
        tags_page(&p.tags, marker, max)
    }
}
