//! redb backend latency through the async API (so each figure includes the `spawn_blocking`
//! hand-off): `cargo bench -p irsa-store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_store::{Compare, RedbStore, Store, Txn};

fn main() {
    divan::main();
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    store: RedbStore,
    _dir: Option<tempfile::TempDir>,
}

const MEMORY: &str = "memory";
const DISK: &str = "disk";

/// A store with 10,000 roles of ~1 KiB (IAM-sized JSON) under `roles/`, in memory or on disk.
fn fixture(backend: &str) -> Fixture {
    let on_disk = backend == DISK;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, dir) = if on_disk {
        let dir = tempfile::tempdir().unwrap();
        (rt.block_on(RedbStore::open(dir.path())).unwrap(), Some(dir))
    } else {
        (RedbStore::in_memory().unwrap(), None)
    };
    rt.block_on(async {
        for chunk in 0..100 {
            let mut txn = Txn::new();
            for i in 0..100 {
                let n = chunk * 100 + i;
                txn = txn.put(format!("roles/role-{n:05}"), vec![b'x'; 1024]);
            }
            assert!(store.txn(txn).await.unwrap().is_committed());
        }
    });
    Fixture { rt, store, _dir: dir }
}

#[divan::bench(args = [MEMORY, DISK])]
fn get(bencher: divan::Bencher<'_, '_>, backend: &str) {
    let f = fixture(backend);
    let mut n = 0u32;
    bencher.bench_local(|| {
        n = (n + 7919) % 10_000;
        f.rt.block_on(f.store.get(&format!("roles/role-{n:05}")))
            .unwrap()
            .unwrap()
    });
}

#[divan::bench(args = [MEMORY, DISK])]
fn list_100(bencher: divan::Bencher<'_, '_>, backend: &str) {
    let f = fixture(backend);
    bencher.bench_local(|| {
        f.rt.block_on(f.store.list("roles/", Some("roles/role-05000"), 100))
            .unwrap()
    });
}

/// A create with an index entry, guarded by `Compare::absent`: one durable commit (fsync) on disk.
#[divan::bench(args = [MEMORY, DISK], sample_count = 50, sample_size = 4)]
fn txn_create_role(bencher: divan::Bencher<'_, '_>, backend: &str) {
    let f = fixture(backend);
    let mut n = 0u64;
    bencher.bench_local(|| {
        n += 1;
        let key = format!("roles/new-{n}");
        let txn = Txn::new()
            .when(Compare::absent(key.clone()))
            .put(key, vec![b'x'; 1024])
            .put(format!("idx/role-id/AROA{n:016}"), "x");
        assert!(f.rt.block_on(f.store.txn(txn)).unwrap().is_committed());
    });
}

/// A transaction whose compare fails: no commit, no fsync.
#[divan::bench(args = [MEMORY, DISK])]
fn txn_conflict(bencher: divan::Bencher<'_, '_>, backend: &str) {
    let f = fixture(backend);
    bencher.bench_local(|| {
        let txn = Txn::new()
            .when(Compare::absent("roles/role-00001"))
            .put("roles/role-00001", "x");
        assert!(!f.rt.block_on(f.store.txn(txn)).unwrap().is_committed());
    });
}

/// Opening a 10,000-role store (~12 MB): includes redb's whole-file integrity check.
#[divan::bench(sample_count = 20)]
fn open_10k_roles(bencher: divan::Bencher<'_, '_>) {
    let Fixture { rt, store, _dir } = fixture(DISK);
    let dir = _dir.unwrap();
    drop(store);
    bencher.bench_local(|| drop(rt.block_on(RedbStore::open(dir.path())).unwrap()));
}
