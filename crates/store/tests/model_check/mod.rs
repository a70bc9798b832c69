//! The reference model the backends are property-tested against: a `BTreeMap` and a revision
//! counter, random steps (transactions, gets, list pages), and `check`, which runs steps on a
//! store and on the model and compares every answer.
#![allow(dead_code)]

use std::collections::BTreeMap;

use irsa_store::{Compare, Entry, Store, Txn, TxnOutcome};
use proptest::prelude::*;

const KEYS: &[&str] = &["a", "a/1", "a/2", "a/10", "ab", "b", "b/x", "é"];

/// A compare as generated: `Revision` is relative to the model's current revision of the key so
/// that it matches often.
#[derive(Clone, Debug)]
pub enum GenCompare {
    Absent(usize),
    Exists(usize),
    RevisionPlus(usize, u64),
}

#[derive(Clone, Debug)]
pub enum GenOp {
    Put(usize, Vec<u8>),
    Delete(usize),
}

#[derive(Clone, Debug)]
pub enum Step {
    Txn(Vec<GenCompare>, Vec<GenOp>),
    Get(usize),
    List {
        prefix: usize,
        after: Option<usize>,
        limit: usize,
    },
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

pub fn step() -> impl Strategy<Value = Step> {
    let compare = prop_oneof![
        key().prop_map(GenCompare::Absent),
        key().prop_map(GenCompare::Exists),
        (key(), prop_oneof![3 => Just(0u64), 1 => 1u64..3]).prop_map(|(k, d)| GenCompare::RevisionPlus(k, d)),
    ];
    let op = prop_oneof![
        (key(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(k, v)| GenOp::Put(k, v)),
        key().prop_map(GenOp::Delete),
    ];
    prop_oneof![
        6 => (prop::collection::vec(compare, 0..3), prop::collection::vec(op, 0..4))
            .prop_map(|(c, o)| Step::Txn(c, o)),
        2 => key().prop_map(Step::Get),
        2 => (0..PREFIXES.len(), prop::option::of(key()), 0usize..5)
            .prop_map(|(prefix, after, limit)| Step::List { prefix, after, limit }),
    ]
}

const PREFIXES: &[&str] = &["", "a", "a/", "b", "c", "é"];

/// The model: a map and the store revision.
#[derive(Default)]
pub struct Model {
    kv: BTreeMap<String, Entry>,
    revision: u64,
}

impl Model {
    /// An empty model whose store revision starts at `revision` (etcd's cluster revision).
    pub fn starting_at(revision: u64) -> Self {
        Self {
            kv: BTreeMap::new(),
            revision,
        }
    }

    fn compare(&self, c: &GenCompare) -> Compare {
        match *c {
            GenCompare::Absent(k) => Compare::absent(KEYS[k]),
            GenCompare::Exists(k) => Compare::exists(KEYS[k]),
            GenCompare::RevisionPlus(k, d) => {
                Compare::revision(KEYS[k], self.kv.get(KEYS[k]).map_or(0, |e| e.revision) + d)
            }
        }
    }

    /// Applies the transaction (ops already de-duplicated by key).
    fn txn(&mut self, compares: &[Compare], ops: &[GenOp]) -> TxnOutcome {
        let holds = compares
            .iter()
            .all(|c| c.holds(self.kv.get(c.key()).map(|e| e.revision)));
        if !holds {
            return TxnOutcome::Conflict {
                revision: self.revision,
            };
        }
        let next = self.revision + 1;
        let mut changed = false;
        for op in ops {
            match op {
                GenOp::Put(k, v) => {
                    self.kv.insert(
                        KEYS[*k].to_owned(),
                        Entry {
                            value: v.clone(),
                            revision: next,
                        },
                    );
                    changed = true;
                }
                GenOp::Delete(k) => changed |= self.kv.remove(KEYS[*k]).is_some(),
            }
        }
        if changed {
            self.revision = next;
        }
        TxnOutcome::Committed {
            revision: self.revision,
        }
    }

    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> (Vec<(String, Entry)>, bool) {
        let all: Vec<_> = self
            .kv
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let more = all.len() > limit;
        (all.into_iter().take(limit).collect(), more)
    }
}

pub fn check<S: Store>(
    store: &S,
    rt: &tokio::runtime::Runtime,
    model: &mut Model,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    rt.block_on(async {
        for step in steps {
            match step {
                Step::Txn(compares, ops) => {
                    let compares: Vec<Compare> = compares.iter().map(|c| model.compare(c)).collect();
                    // One write per key, as the store requires.
                    let mut seen = std::collections::HashSet::new();
                    let ops: Vec<GenOp> = ops
                        .iter()
                        .filter(|op| {
                            seen.insert(match op {
                                GenOp::Put(k, _) | GenOp::Delete(k) => *k,
                            })
                        })
                        .cloned()
                        .collect();
                    let mut txn = Txn::new();
                    for c in &compares {
                        txn = txn.when(c.clone());
                    }
                    for op in &ops {
                        txn = match op {
                            GenOp::Put(k, v) => txn.put(KEYS[*k], v.clone()),
                            GenOp::Delete(k) => txn.delete(KEYS[*k]),
                        };
                    }
                    let got = store.txn(txn).await.unwrap();
                    let want = model.txn(&compares, &ops);
                    prop_assert_eq!(got, want);
                }
                Step::Get(k) => {
                    prop_assert_eq!(store.get(KEYS[*k]).await.unwrap(), model.kv.get(KEYS[*k]).cloned());
                }
                Step::List { prefix, after, limit } => {
                    let (prefix, after) = (PREFIXES[*prefix], after.map(|a| KEYS[a]));
                    let page = store.list(prefix, after, *limit).await.unwrap();
                    let (entries, more) = model.list(prefix, after, *limit);
                    prop_assert_eq!(page.entries, entries);
                    prop_assert_eq!(page.more, more);
                }
            }
        }
        prop_assert_eq!(store.revision().await.unwrap(), model.revision);
        let (entries, _) = model.list("", None, usize::MAX);
        prop_assert_eq!(store.list("", None, 1000).await.unwrap().entries, entries);
        Ok(())
    })
}
