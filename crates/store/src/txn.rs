//! Transactions: compares, then puts and deletes, applied atomically iff every compare holds.
//!
//! This is etcd's model, reduced to what irsa's IAM layer needs:
//!
//! - "create role `r` and its id index entry unless the name exists":
//!   `Txn::new().when(Compare::absent("roles/r")).put("roles/r", ..).put("idx/role-id/AROA..", ..)`;
//! - "delete role `r` only if it has no attached policies": compare the role at the revision read,
//!   delete it and its index entries;
//! - optimistic concurrency in general: read an [`Entry`](crate::Entry), compute, and write back
//!   with `Compare::revision(key, entry.revision)`; on [`TxnOutcome::Conflict`] read again.

use std::collections::HashSet;

use crate::Error;

/// A condition on one key, checked atomically with the writes of a [`Txn`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Compare {
    /// The key does not exist.
    Absent(String),
    /// The key exists (at any revision).
    Exists(String),
    /// The key exists and was last written at exactly this revision (its [`Entry::revision`]).
    /// Revision 0 never matches: no write has revision 0.
    ///
    /// [`Entry::revision`]: crate::Entry::revision
    Revision(String, u64),
}

impl Compare {
    /// The key does not exist.
    pub fn absent(key: impl Into<String>) -> Self {
        Compare::Absent(key.into())
    }

    /// The key exists.
    pub fn exists(key: impl Into<String>) -> Self {
        Compare::Exists(key.into())
    }

    /// The key exists and was last written at `revision`.
    pub fn revision(key: impl Into<String>, revision: u64) -> Self {
        Compare::Revision(key.into(), revision)
    }

    /// The key this compare is about.
    pub fn key(&self) -> &str {
        match self {
            Compare::Absent(k) | Compare::Exists(k) | Compare::Revision(k, _) => k,
        }
    }

    /// Whether the compare holds for a key whose current revision is `current` (`None`: absent).
    pub fn holds(&self, current: Option<u64>) -> bool {
        match (self, current) {
            (Compare::Absent(_), current) => current.is_none(),
            (Compare::Exists(_), current) => current.is_some(),
            (Compare::Revision(_, want), Some(have)) => *want == have,
            (Compare::Revision(_, _), None) => false,
        }
    }
}

/// One write of a [`Txn`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Set the key to the value (creating it or replacing it).
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove the key; removing an absent key is allowed and changes nothing.
    Delete {
        /// The key.
        key: String,
    },
}

impl Op {
    /// The key this operation writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// An atomic, conditional batch of writes.
///
/// Built with [`Txn::new`], [`Txn::when`], [`Txn::put`] and [`Txn::delete`]. The writes are
/// applied in order, all at once and only if every compare holds. A transaction that changes
/// something (any put, or a delete of a key that exists) gets the next store revision; every key it
/// puts has that revision. A key may be written at most once per transaction (etcd's rule).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Txn {
    pub(crate) compares: Vec<Compare>,
    pub(crate) ops: Vec<Op>,
}

impl Txn {
    /// An empty transaction (no compares, no writes).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a compare that must hold for the writes to be applied.
    #[must_use]
    pub fn when(mut self, compare: Compare) -> Self {
        self.compares.push(compare);
        self
    }

    /// Adds a put.
    #[must_use]
    pub fn put(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a delete.
    #[must_use]
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// The compares, in the order added.
    pub fn compares(&self) -> &[Compare] {
        &self.compares
    }

    /// The writes, in the order added.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Checks what every backend refuses: empty keys and a key written twice.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        for c in &self.compares {
            crate::check_key(c.key())?;
        }
        let mut seen = HashSet::with_capacity(self.ops.len());
        for op in &self.ops {
            crate::check_key(op.key())?;
            if !seen.insert(op.key()) {
                return Err(Error::InvalidTxn(format!(
                    "key {:?} is written more than once in one transaction",
                    op.key()
                )));
            }
        }
        Ok(())
    }
}

/// What became of a [`Txn`].
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[must_use]
#[non_exhaustive]
pub enum TxnOutcome {
    /// Every compare held and the writes were applied (durably, for the redb backend).
    /// `revision` is the store revision after the transaction: the revision of every key it put
    /// when it changed anything, else the unchanged current revision.
    Committed {
        /// The store revision after the transaction.
        revision: u64,
    },
    /// A compare did not hold; nothing was written. `revision` is the store revision at which the
    /// compares were evaluated: re-read and retry, or report the conflict.
    Conflict {
        /// The store revision the compares were evaluated at.
        revision: u64,
    },
}

impl TxnOutcome {
    /// Whether the transaction was applied.
    pub fn is_committed(self) -> bool {
        matches!(self, TxnOutcome::Committed { .. })
    }

    /// The store revision reported with the outcome.
    pub fn revision(self) -> u64 {
        match self {
            TxnOutcome::Committed { revision } | TxnOutcome::Conflict { revision } => revision,
        }
    }
}
