//! What may be sent again after a failed attempt, and to which effect.
//!
//! The rules follow etcd's own Go client (`client/v3/retry.go`): a read (`Range`) is retried on
//! any transient failure, since running it twice changes nothing; a write (`Txn`) only when it
//! is known not to have been applied, since a write whose outcome is unknown may have committed
//! and running it again could apply it twice. etcd's client knows a write was not sent when gRPC
//! had no connection to send it on; here that is a failed connect (tonic's [`ConnectError`]
//! anywhere in the cause chain), a channel that could not take the request, and two refusals etcd
//! makes before a request runs: `etcdserver: no leader` (the require-leader check every request
//! carries, see [`super::client`]) and `etcdserver: too many requests` (the apply-lag check
//! ahead of the proposal).
//!
//! One more case is safe that etcd's client does not use: a transaction guarded by a compare of
//! a key's mod revision with a put or delete of that same key can be replayed whatever happened
//! to the first copy, since at most one copy can apply: once either applies, the key's mod
//! revision moves past the compared one and can never come back (etcd's revisions only grow),
//! so the other copy's compare fails. See [`replay_safe`].

use tonic::{Code, ConnectError};

use super::client::ClientError;
use super::proto::{CompareResult, CompareTarget, Request, TargetUnion, TxnRequest};

/// What a failed attempt means for sending the request again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It did not run: it never left the client, or etcd refused it before running it. Safe to
    /// send again, to another member.
    NotApplied,
    /// It may have run: the connection broke, or no answer came in time. A read can be sent
    /// again; a write only if [`replay_safe`].
    Unknown,
    /// etcd's answer (a refusal such as a request over its limits) or the client's settings:
    /// sending it again would fail the same way.
    Final,
}

/// Whether and how an attempt's failure may be retried; see the module documentation.
pub(crate) fn classify(err: &ClientError) -> Failure {
    match err {
        // The channel's worker could not take the request: it was never sent.
        ClientError::Closed(_) => Failure::NotApplied,
        ClientError::AttemptTimeout { .. } => Failure::Unknown,
        ClientError::Status(status) => {
            if never_connected(status) {
                return Failure::NotApplied;
            }
            match (status.code(), status.message()) {
                // Refused by etcd's interceptor before the handler ran (require-leader), or ahead
                // of the proposal (apply lag): nothing was proposed.
                (Code::Unavailable, "etcdserver: no leader")
                | (Code::ResourceExhausted, "etcdserver: too many requests") => Failure::NotApplied,
                // "leader changed", "request timed out", a reset connection, a stream cancelled
                // by a member that lost its leader: the request may have been proposed.
                (Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted, _) => Failure::Unknown,
                // A status made by the client from an error of its own (a reset, a broken pipe
                // after the request was written) has a source; one sent by etcd has none.
                (Code::Unknown, _) if std::error::Error::source(status).is_some() => Failure::Unknown,
                _ => Failure::Final,
            }
        }
        ClientError::Endpoint { .. }
        | ClientError::Url { .. }
        | ClientError::Tls { .. }
        | ClientError::OutcomeUnknown { .. }
        | ClientError::Exhausted { .. } => Failure::Final,
    }
}

/// Whether the attempt found nothing to take the request: no connection could be made, or the
/// channel is gone.
pub(crate) fn unreachable(err: &ClientError) -> bool {
    match err {
        ClientError::Closed(_) => true,
        ClientError::Status(status) => never_connected(status),
        _ => false,
    }
}

/// Whether the status was made by the client because it could not connect (TCP, TLS, or the
/// connect timeout): then the request never left it.
fn never_connected(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if err.is::<ConnectError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Whether sending `txn` again cannot apply it twice, whatever became of an earlier copy: it
/// compares some key's mod revision for equality with a revision above 0 and writes (puts or
/// deletes) that key. Once either copy applies, that key's mod revision is a newer one forever
/// (etcd's revisions only grow; a delete and re-create gives a newer one too), so the other
/// copy's compare fails. A compare on absence or existence is not enough: the key can be
/// deleted or created again in between (ABA), and the second copy would then apply.
pub(crate) fn replay_safe(txn: &TxnRequest) -> bool {
    if !txn.failure.is_empty() {
        return false;
    }
    txn.compare.iter().any(|c| {
        let pinned = c.target == CompareTarget::Mod as i32
            && c.result == CompareResult::Equal as i32
            && matches!(c.target_union, Some(TargetUnion::ModRevision(r)) if r > 0);
        pinned
            && txn.success.iter().any(|op| match &op.request {
                Some(Request::Put(put)) => put.key == c.key,
                Some(Request::DeleteRange(del)) => del.key == c.key && del.range_end.is_empty(),
                None => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::proto::{Compare, DeleteRangeRequest, PutRequest, RequestOp};

    fn compare(key: &str, target: CompareTarget, union: TargetUnion) -> Compare {
        Compare {
            result: CompareResult::Equal as i32,
            target: target as i32,
            key: key.as_bytes().to_vec(),
            target_union: Some(union),
        }
    }

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::Put(PutRequest {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
            })),
        }
    }

    fn delete(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::DeleteRange(DeleteRangeRequest {
                key: key.as_bytes().to_vec(),
                range_end: Vec::new(),
            })),
        }
    }

    fn txn(compare: Vec<Compare>, success: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare,
            success,
            failure: Vec::new(),
        }
    }

    #[test]
    fn only_a_mod_revision_guard_on_a_written_key_makes_a_txn_replay_safe() {
        let pinned = || compare("k", CompareTarget::Mod, TargetUnion::ModRevision(7));
        assert!(replay_safe(&txn(vec![pinned()], vec![put("k")])));
        assert!(replay_safe(&txn(vec![pinned()], vec![put("other"), delete("k")])));
        // The guard is on another key than the writes: a replay could apply twice.
        assert!(!replay_safe(&txn(vec![pinned()], vec![put("other")])));
        // Absence can come back (create, delete, replay): ABA.
        let absent = compare("k", CompareTarget::Version, TargetUnion::Version(0));
        assert!(!replay_safe(&txn(vec![absent], vec![put("k")])));
        // No compare at all.
        assert!(!replay_safe(&txn(Vec::new(), vec![put("k")])));
        let zero = compare("k", CompareTarget::Mod, TargetUnion::ModRevision(0));
        assert!(!replay_safe(&txn(vec![zero], vec![put("k")])));
    }

    #[test]
    fn refusals_before_running_are_not_applied_and_broken_calls_are_unknown() {
        let of = |s: tonic::Status| classify(&ClientError::Status(s));
        assert_eq!(
            of(tonic::Status::unavailable("etcdserver: no leader")),
            Failure::NotApplied
        );
        assert_eq!(
            of(tonic::Status::resource_exhausted("etcdserver: too many requests")),
            Failure::NotApplied
        );
        assert_eq!(
            of(tonic::Status::unavailable("etcdserver: leader changed")),
            Failure::Unknown
        );
        assert_eq!(
            of(tonic::Status::unavailable("etcdserver: request timed out")),
            Failure::Unknown
        );
        let reset = tonic::Status::from_error(Box::new(std::io::Error::other("connection reset")));
        assert_eq!(of(reset), Failure::Unknown);
        let refused = tonic::Status::from_error(Box::new(ConnectError(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )))));
        assert_eq!(of(refused), Failure::NotApplied);
        assert_eq!(
            of(tonic::Status::invalid_argument(
                "etcdserver: too many operations in txn request"
            )),
            Failure::Final
        );
        assert_eq!(of(tonic::Status::unknown("sent by etcd")), Failure::Final);
        let timeout = ClientError::AttemptTimeout {
            member: "http://etcd:2379".into(),
            timeout: std::time::Duration::from_secs(2),
        };
        assert_eq!(classify(&timeout), Failure::Unknown);
    }
}
