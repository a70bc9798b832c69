//! Errors, one variant per AWS error code, with AWS's HTTP statuses and message shapes.
//!
//! The codes and statuses are those of the AWS Query protocol services (STS and IAM
//! `CommonErrors`): `IncompleteSignature` 400, `MissingAuthenticationToken` 403,
//! `InvalidClientTokenId` 403, `SignatureDoesNotMatch` 403, `RequestExpired` 400 and
//! `ExpiredToken` 403. Messages follow what AWS returns where it is known (the clock-skew message
//! "Signature expired: … is now earlier than … (… - 15 min.)", the credential-scope messages,
//! "Request is missing Authentication Token", the key=value pair message); where AWS's wording is
//! not known, the message is irsa's own and says so in the variant's documentation.
//!
//! This crate does not write the wire format; the service maps [`Error::aws_code`],
//! [`Error::http_status`] and [`Error::message`] into its `<ErrorResponse>`.

use std::fmt;

use crate::time::AmzDate;

/// Why a request failed authentication. Each variant is one AWS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `Authorization` header and no presigned query parameters: the request is anonymous.
    ///
    /// The STS service must route operations that are legitimately unsigned
    /// (`AssumeRoleWithWebIdentity`, `AssumeRoleWithSAML`) before asking for authentication.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,

    /// The signature information is malformed or incomplete: a missing `Credential`,
    /// `SignedHeaders` or `Signature` part, an unparsable date, an unsupported algorithm, a
    /// credential without five parts, a bad `X-Amz-Expires`, duplicated parts.
    #[error("{message}")]
    IncompleteSignature {
        /// AWS-style description of what is wrong.
        message: String,
    },

    /// The access key id (or its session token) is unknown. Only the caller can know this: it
    /// returns [`Error::invalid_client_token_id`] from its credential lookup.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,

    /// The signature does not verify, is outside its time window, or is scoped to the wrong
    /// region, service or date. [`Mismatch`] says which.
    #[error("{0}")]
    SignatureDoesNotMatch(Mismatch),

    /// A presigned request used after `X-Amz-Date + X-Amz-Expires`. (The wording is irsa's; AWS
    /// documents the code for this case but not a message.)
    #[error("Request has expired: it was signed at {signed_at} and expired at {expired_at}, now is {now}")]
    RequestExpired {
        /// `X-Amz-Date`.
        signed_at: AmzDate,
        /// `X-Amz-Date + X-Amz-Expires`.
        expired_at: AmzDate,
        /// The server's clock.
        now: AmzDate,
    },

    /// The session token's credentials have expired. Only the caller can know this: it returns
    /// [`Error::expired_token`] from its credential lookup.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

/// The reasons behind [`Error::SignatureDoesNotMatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The recomputed signature differs from the one supplied. Carries the canonical request
    /// and string to sign the server computed (AWS's STS returns both in its message; neither
    /// contains a secret, and the session token is replaced by `<redacted>`).
    Signature {
        /// The canonical request, as text (non-UTF-8 bytes replaced).
        canonical_request: String,
        /// The string to sign.
        string_to_sign: String,
    },
    /// The request's date is more than the allowed skew before the server's clock.
    Expired {
        /// The request's date.
        signed_at: AmzDate,
        /// The server's clock.
        now: AmzDate,
        /// The allowed skew in minutes.
        skew_minutes: i64,
    },
    /// The request's date is more than the allowed skew after the server's clock.
    NotYetCurrent {
        /// The request's date.
        signed_at: AmzDate,
        /// The server's clock.
        now: AmzDate,
        /// The allowed skew in minutes.
        skew_minutes: i64,
    },
    /// The credential scope names a region, service, terminator or date this server does not
    /// accept; one message per problem, in AWS's order and wording.
    Scope(Vec<String>),
    /// `host` is not among the signed headers.
    HostNotSigned,
    /// A header listed in `SignedHeaders` is absent from the request. (irsa's wording.)
    SignedHeaderMissing(String),
    /// `x-amz-content-sha256` is not the SHA-256 of the body (or is `UNSIGNED-PAYLOAD` on a
    /// request signed in the `Authorization` header, which must sign its body).
    ContentSha256 {
        /// The header's value.
        provided: String,
    },
}

const MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Signature { .. } => f.write_str(MISMATCH_MESSAGE),
            Mismatch::Expired {
                signed_at,
                now,
                skew_minutes,
            } => write!(
                f,
                "Signature expired: {signed_at} is now earlier than {} ({now} - {skew_minutes} min.)",
                now.plus(-skew_minutes * 60)
            ),
            Mismatch::NotYetCurrent {
                signed_at,
                now,
                skew_minutes,
            } => write!(
                f,
                "Signature not yet current: {signed_at} is still later than {} ({now} + {skew_minutes} min.)",
                now.plus(skew_minutes * 60)
            ),
            Mismatch::Scope(problems) => f.write_str(&problems.join(" ")),
            Mismatch::HostNotSigned => {
                f.write_str("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
            }
            Mismatch::SignedHeaderMissing(name) => {
                write!(
                    f,
                    "The header '{name}' is listed in SignedHeaders but is not in the request."
                )
            }
            Mismatch::ContentSha256 { .. } => {
                f.write_str("The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        }
    }
}

impl Error {
    /// The error the caller returns when its credential store does not know the access key id
    /// or the session token does not belong to it.
    pub fn invalid_client_token_id() -> Self {
        Error::InvalidClientTokenId
    }

    /// The error the caller returns when the session token's credentials have expired.
    pub fn expired_token() -> Self {
        Error::ExpiredToken
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        Error::IncompleteSignature {
            message: message.into(),
        }
    }

    /// The AWS error code (`<Code>` in the Query protocol's `<ErrorResponse>`).
    pub fn aws_code(&self) -> &'static str {
        match self {
            Error::MissingAuthenticationToken => "MissingAuthenticationToken",
            Error::IncompleteSignature { .. } => "IncompleteSignature",
            Error::InvalidClientTokenId => "InvalidClientTokenId",
            Error::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            Error::RequestExpired { .. } => "RequestExpired",
            Error::ExpiredToken => "ExpiredToken",
        }
    }

    /// The HTTP status AWS uses for this code.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::IncompleteSignature { .. } | Error::RequestExpired { .. } => 400,
            Error::MissingAuthenticationToken
            | Error::InvalidClientTokenId
            | Error::SignatureDoesNotMatch(_)
            | Error::ExpiredToken => 403,
        }
    }

    /// The message for the `<Message>` element (the same as `Display`). It never contains a
    /// secret; it may echo the `Authorization` header, which holds none.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The message with diagnostics appended when there are any: for a signature mismatch,
    /// the canonical request and string to sign the server computed, in the layout AWS's STS
    /// uses. Useful in development; a server may prefer [`Error::message`] in production.
    pub fn detailed_message(&self) -> String {
        match self {
            Error::SignatureDoesNotMatch(Mismatch::Signature {
                canonical_request,
                string_to_sign,
            }) => format!(
                "{MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\n\
                 The String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> AmzDate {
        AmzDate::parse_iso8601_basic(s).unwrap()
    }

    #[test]
    fn codes_and_statuses() {
        let cases: Vec<(Error, &str, u16)> = vec![
            (Error::MissingAuthenticationToken, "MissingAuthenticationToken", 403),
            (Error::incomplete("x"), "IncompleteSignature", 400),
            (Error::invalid_client_token_id(), "InvalidClientTokenId", 403),
            (
                Error::SignatureDoesNotMatch(Mismatch::HostNotSigned),
                "SignatureDoesNotMatch",
                403,
            ),
            (
                Error::RequestExpired {
                    signed_at: t("20260101T000000Z"),
                    expired_at: t("20260101T000100Z"),
                    now: t("20260101T000200Z"),
                },
                "RequestExpired",
                400,
            ),
            (Error::expired_token(), "ExpiredToken", 403),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.aws_code(), code);
            assert_eq!(e.http_status(), status, "{code}");
        }
    }

    #[test]
    fn aws_messages() {
        let e = Error::SignatureDoesNotMatch(Mismatch::Expired {
            signed_at: t("20260101T000000Z"),
            now: t("20260101T001600Z"),
            skew_minutes: 15,
        });
        assert_eq!(
            e.message(),
            "Signature expired: 20260101T000000Z is now earlier than 20260101T000100Z (20260101T001600Z - 15 min.)"
        );
        let e = Error::SignatureDoesNotMatch(Mismatch::NotYetCurrent {
            signed_at: t("20260101T003000Z"),
            now: t("20260101T000000Z"),
            skew_minutes: 15,
        });
        assert_eq!(
            e.message(),
            "Signature not yet current: 20260101T003000Z is still later than 20260101T001500Z (20260101T000000Z + 15 min.)"
        );
        assert_eq!(
            Error::MissingAuthenticationToken.message(),
            "Request is missing Authentication Token"
        );
        assert_eq!(
            Error::ExpiredToken.message(),
            "The security token included in the request is expired"
        );
        assert_eq!(
            Error::InvalidClientTokenId.message(),
            "The security token included in the request is invalid."
        );
        let e = Error::SignatureDoesNotMatch(Mismatch::Signature {
            canonical_request: "GET\n/".into(),
            string_to_sign: "AWS4-HMAC-SHA256".into(),
        });
        assert!(
            e.message()
                .starts_with("The request signature we calculated does not match the signature you provided.")
        );
        assert!(!e.message().contains("Canonical"));
        assert!(
            e.detailed_message()
                .contains("The Canonical String for this request should have been\n'GET\n/'")
        );
    }
}
