//! The errors STS returns, in one place: the web identity token failures, the credential
//! failures of signed requests, and access denials with irsa's explanation.

use irsa_aws_query::{AwsError, ErrorCode};
use irsa_oidc::{StsErrorCode, VerifyError};

/// AWS's message when the issuer's keys cannot be had (two spaces after the comma, sic).
pub const KEY_RETRIEVAL_MESSAGE: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";

/// The one mapping from a web identity token failure to STS's error: the code from
/// [`VerifyError::sts_error_code`] (`InvalidIdentityToken`, `ExpiredTokenException`,
/// `IDPCommunicationError`), the message as AWS words it where it is known (unknown issuer,
/// audience, missing claim, expiry, key retrieval) and irsa's own otherwise. Messages never
/// contain the token.
pub fn web_identity_error(e: &VerifyError) -> AwsError {
    let code = match e.sts_error_code() {
        StsErrorCode::InvalidIdentityToken => ErrorCode::InvalidIdentityToken,
        StsErrorCode::ExpiredTokenException => ErrorCode::ExpiredTokenException,
        StsErrorCode::IdpCommunicationError => ErrorCode::IdpCommunicationError,
    };
    let message = match e {
        VerifyError::UnknownIssuer(iss) => no_provider_message(iss),
        VerifyError::KeyFetch(f) => format!("{KEY_RETRIEVAL_MESSAGE} (irsa: {f})"),
        other => other.to_string(),
    };
    AwsError::new(code, message)
}

/// `No OpenIDConnect provider found in your account for <iss>`.
pub fn no_provider_message(iss: &str) -> String {
    format!(
        "No OpenIDConnect provider found in your account for {}",
        irsa_oidc::error::sanitize_url(iss)
    )
}

/// `InvalidIdentityToken` with a message.
pub fn invalid_identity_token(message: impl Into<String>) -> AwsError {
    AwsError::new(ErrorCode::InvalidIdentityToken, message)
}

/// `InvalidClientTokenId`: unknown access key, or a session token that does not open.
pub fn invalid_client_token_id() -> AwsError {
    AwsError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

/// `ExpiredToken`: the session's credentials have expired (or were revoked).
pub fn expired_token() -> AwsError {
    AwsError::new(
        ErrorCode::ExpiredToken,
        "The security token included in the request is expired",
    )
}

/// The SigV4 verifier's error for a failed credential lookup, so the server can hand
/// [`crate::Sts::resolve`]'s result straight to `irsa_sigv4::Verifier::authenticate`.
/// `ExpiredToken` stays `ExpiredToken`; everything else is `InvalidClientTokenId` (a store
/// failure is better retried by the client than reported as a bad signature; the server may
/// prefer to answer it itself before calling the verifier).
pub fn sigv4_lookup_error(e: &AwsError) -> irsa_sigv4::Error {
    match e.code {
        ErrorCode::ExpiredToken => irsa_sigv4::Error::expired_token(),
        _ => irsa_sigv4::Error::invalid_client_token_id(),
    }
}

/// `AccessDenied` for `AssumeRoleWithWebIdentity`: AWS's message, then irsa's reason when
/// given.
pub fn web_identity_denied(action: &str, reason: Option<&str>) -> AwsError {
    let message = match reason {
        Some(r) => format!("Not authorized to perform {action} (irsa: {r})"),
        None => format!("Not authorized to perform {action}"),
    };
    AwsError::new(ErrorCode::AccessDenied, message)
}

/// `AccessDenied` for a signed call: `User: <arn> is not authorized to perform: <action> on
/// resource: <resource>`, then irsa's reason when given.
pub fn caller_denied(caller_arn: &str, action: &str, resource: &str, reason: Option<&str>) -> AwsError {
    let aws = format!("User: {caller_arn} is not authorized to perform: {action} on resource: {resource}");
    let message = match reason {
        Some(r) => format!("{aws} (irsa: {r})"),
        None => aws,
    };
    AwsError::new(ErrorCode::AccessDenied, message)
}

/// A store failure as the client sees it (no internals).
pub fn internal_failure() -> AwsError {
    AwsError::new(
        ErrorCode::InternalFailure,
        "The request processing has failed because of an unknown error, exception or failure.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_oidc::FetchError;

    #[test]
    fn every_verify_error_maps_to_one_sts_code() {
        let cases: Vec<(VerifyError, ErrorCode, &str)> = vec![
            (
                VerifyError::UnknownIssuer("https://x.example/".into()),
                ErrorCode::InvalidIdentityToken,
                "No OpenIDConnect provider found in your account for https://x.example/",
            ),
            (
                VerifyError::AudienceMismatch,
                ErrorCode::InvalidIdentityToken,
                "Incorrect token audience",
            ),
            (
                VerifyError::MissingClaim("aud"),
                ErrorCode::InvalidIdentityToken,
                "Missing a required claim: aud",
            ),
            (
                VerifyError::Expired {
                    now: 1624482533,
                    exp: 1624482335,
                },
                ErrorCode::ExpiredTokenException,
                "Token expired: current date/time 1624482533 must be before the expiration date/time 1624482335",
            ),
            (
                VerifyError::TooOld { age: 441398 },
                ErrorCode::ExpiredTokenException,
                "Token too old: 441398",
            ),
            (
                VerifyError::BadSignature { kid: "k1".into() },
                ErrorCode::InvalidIdentityToken,
                "invalid signature (kid `k1`)",
            ),
        ];
        for (e, code, msg) in cases {
            let a = web_identity_error(&e);
            assert_eq!(a.code, code, "{e}");
            assert_eq!(a.message, msg);
        }
        let transient = web_identity_error(&VerifyError::KeyFetch(FetchError::Timeout {
            url: "https://x.example/keys".into(),
        }));
        assert_eq!(transient.code, ErrorCode::IdpCommunicationError);
        assert!(transient.message.starts_with(KEY_RETRIEVAL_MESSAGE));
        let permanent = web_identity_error(&VerifyError::KeyFetch(FetchError::Status {
            url: "https://x.example/keys".into(),
            status: 404,
        }));
        assert_eq!(permanent.code, ErrorCode::InvalidIdentityToken);
        assert!(permanent.message.starts_with(KEY_RETRIEVAL_MESSAGE));
        assert!(permanent.message.contains("404"));
    }

    #[test]
    fn denials_say_why_only_when_asked() {
        assert_eq!(
            web_identity_denied("sts:AssumeRoleWithWebIdentity", None).message,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        );
        assert_eq!(
            web_identity_denied("sts:AssumeRoleWithWebIdentity", Some("no statement allows it")).message,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity (irsa: no statement allows it)"
        );
        let d = caller_denied("arn:aws:iam::111122223333:root", "sts:AssumeRole", "arn:x", None);
        assert_eq!(d.status(), 403);
        assert_eq!(
            d.message,
            "User: arn:aws:iam::111122223333:root is not authorized to perform: sts:AssumeRole on resource: arn:x"
        );
    }

    #[test]
    fn credential_errors_are_aws_words() {
        assert_eq!(invalid_client_token_id().status(), 403);
        assert_eq!(expired_token().code, ErrorCode::ExpiredToken);
        assert_eq!(sigv4_lookup_error(&expired_token()), irsa_sigv4::Error::expired_token());
        assert_eq!(
            sigv4_lookup_error(&internal_failure()),
            irsa_sigv4::Error::invalid_client_token_id()
        );
    }
}
