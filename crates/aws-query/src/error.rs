//! AWS error codes with their HTTP status and fault, in one table.

use std::fmt;

/// Who is at fault, as the `<Type>` element says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was wrong (`Sender`).
    Sender,
    /// The service failed (`Receiver`).
    Receiver,
}

impl Fault {
    /// The `<Type>` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Sender => "Sender",
            Fault::Receiver => "Receiver",
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = ($code:literal, $status:literal, $fault:ident), )*) => {
        /// Every error code irsa's STS and IAM can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// The wire `<Code>`.
            pub fn code(self) -> &'static str {
                match self { $( ErrorCode::$name => $code, )* }
            }

            /// The HTTP status AWS answers with.
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$name => $status, )* }
            }

            /// Sender or receiver fault.
            pub fn fault(self) -> Fault {
                match self { $( ErrorCode::$name => Fault::$fault, )* }
            }

            /// Every code, for tests and documentation.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];
        }
    };
}

codes! {
    // Common to every Query service.
    /// Parameter constraints not met (Coral-style message).
    ValidationError = ("ValidationError", 400, Sender),
    /// No `Action` parameter.
    MissingAction = ("MissingAction", 400, Sender),
    /// Unknown `Action` for the service and version.
    InvalidAction = ("InvalidAction", 400, Sender),
    /// A required parameter is missing.
    MissingParameter = ("MissingParameter", 400, Sender),
    /// A parameter value is not acceptable.
    InvalidParameterValue = ("InvalidParameterValue", 400, Sender),
    /// Parameters that cannot be used together.
    InvalidParameterCombination = ("InvalidParameterCombination", 400, Sender),
    /// A parameter the action does not take.
    InvalidQueryParameter = ("InvalidQueryParameter", 400, Sender),
    /// The query string or form body could not be read.
    MalformedQueryString = ("MalformedQueryString", 400, Sender),
    /// Request body too large or of the wrong content type.
    InvalidRequest = ("InvalidRequest", 400, Sender),
    /// An unexpected failure; never caused by input.
    InternalFailure = ("InternalFailure", 500, Receiver),
    /// The service cannot answer now.
    ServiceUnavailable = ("ServiceUnavailable", 503, Receiver),
    /// Too many requests.
    Throttling = ("Throttling", 400, Sender),
    // Authentication of signed requests.
    /// Malformed or partial signature.
    IncompleteSignature = ("IncompleteSignature", 400, Sender),
    /// No credentials on a request that needs them.
    MissingAuthenticationToken = ("MissingAuthenticationToken", 403, Sender),
    /// Unknown access key or session token.
    InvalidClientTokenId = ("InvalidClientTokenId", 403, Sender),
    /// The signature does not verify.
    SignatureDoesNotMatch = ("SignatureDoesNotMatch", 403, Sender),
    /// The request's time is outside the allowed skew or its presigned lifetime.
    RequestExpired = ("RequestExpired", 400, Sender),
    /// The session credentials used to sign have expired.
    ExpiredToken = ("ExpiredToken", 403, Sender),
    /// Not allowed by policy.
    AccessDenied = ("AccessDenied", 403, Sender),
    // STS.
    /// A session policy is not a valid policy.
    MalformedPolicyDocument = ("MalformedPolicyDocument", 400, Sender),
    /// Session policies and tags exceed the packed budget.
    PackedPolicyTooLarge = ("PackedPolicyTooLarge", 400, Sender),
    /// The identity provider rejected the claim.
    IdpRejectedClaim = ("IDPRejectedClaim", 403, Sender),
    /// The identity provider could not be reached.
    IdpCommunicationError = ("IDPCommunicationError", 400, Sender),
    /// The web identity token is not valid.
    InvalidIdentityToken = ("InvalidIdentityToken", 400, Sender),
    /// The web identity token has expired.
    ExpiredTokenException = ("ExpiredTokenException", 400, Sender),
    /// STS is not active in the region.
    RegionDisabledException = ("RegionDisabledException", 403, Sender),
    // IAM.
    /// An input is not valid.
    InvalidInput = ("InvalidInput", 400, Sender),
    /// The entity exists already.
    EntityAlreadyExists = ("EntityAlreadyExists", 409, Sender),
    /// A quota would be exceeded.
    LimitExceeded = ("LimitExceeded", 409, Sender),
    /// The entity does not exist.
    NoSuchEntity = ("NoSuchEntity", 404, Sender),
    /// Another request changed the entity at the same time.
    ConcurrentModification = ("ConcurrentModification", 409, Sender),
    /// IAM failed.
    ServiceFailure = ("ServiceFailure", 500, Receiver),
    /// The OIDC provider could not be reached.
    OpenIdIdpCommunicationError = ("OpenIdIdpCommunicationError", 400, Sender),
    /// The entity cannot be changed (AWS-managed).
    UnmodifiableEntity = ("UnmodifiableEntity", 400, Sender),
    /// The entity still has attachments.
    DeleteConflict = ("DeleteConflict", 409, Sender),
    /// The policy cannot be attached.
    PolicyNotAttachable = ("PolicyNotAttachable", 400, Sender),
    /// Policy evaluation failed in a simulation.
    PolicyEvaluation = ("PolicyEvaluation", 500, Receiver),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An error as it goes on the wire: a code and a message; and, for the operator only, the
/// internal cause of a server-side failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// The code (which fixes status and fault).
    pub code: ErrorCode,
    /// The message, as AWS words it where known.
    pub message: String,
    /// What really failed (a store error and its sources), logged with the request id and never
    /// sent to the client: AWS's `ServiceFailure` says nothing, the operator must learn why.
    pub cause: Option<String>,
}

impl AwsError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AwsError {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// The same error, with the internal cause the operator is told.
    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// `error` and its sources in one line, each cause once.
    pub fn cause_of(error: &(dyn std::error::Error + 'static)) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut current = Some(error);
        while let Some(e) = current {
            let text = e.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            current = e.source();
        }
        parts.join(": ")
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }
}
