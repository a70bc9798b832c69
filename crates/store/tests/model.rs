//! Property test: the redb backend agrees with a plain in-memory model (a `BTreeMap` and a
//! counter) on random sequences of transactions, gets and list pages. (`tests/etcd.rs` runs the
//! same model against etcd.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod model_check;

use irsa_store::RedbStore;
use model_check::{Model, check, step};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_memory_redb_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
        let rt = runtime();
        let store = RedbStore::in_memory().unwrap();
        check(&store, &rt, &mut Model::default(), &steps)?;
    }
}

proptest! {
    // Every committed transaction is an fsync: fewer cases on disk.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn on_disk_redb_matches_the_model_across_reopen(
        before in prop::collection::vec(step(), 1..20),
        after in prop::collection::vec(step(), 0..10),
    ) {
        let rt = runtime();
        let dir = tempfile::tempdir().unwrap();
        let mut model = Model::default();
        let store = rt.block_on(RedbStore::open(dir.path())).unwrap();
        check(&store, &rt, &mut model, &before)?;
        drop(store);
        let reopened = rt.block_on(RedbStore::open(dir.path())).unwrap();
        check(&reopened, &rt, &mut model, &after)?;
    }
}
