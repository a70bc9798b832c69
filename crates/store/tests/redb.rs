//! The redb backend: the conformance suite (on disk in a temp dir, and in memory), reopening,
//! locking, corruption, and durability across `kill -9` of a writing process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use irsa_store::{AnyStore, Compare, Entry, Error, RedbStore, Store, Txn, TxnOutcome};

async fn on_disk() -> (RedbStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (RedbStore::open(dir.path().join("data")).await.unwrap(), dir)
}

async fn in_memory() -> (RedbStore, ()) {
    (RedbStore::in_memory().unwrap(), ())
}

mod on_disk {
    use super::on_disk;
    crate::conformance::conformance_tests!(on_disk);
}

mod in_memory {
    use super::in_memory;
    crate::conformance::conformance_tests!(in_memory);
}

async fn any_store() -> (AnyStore, ()) {
    (AnyStore::from(RedbStore::in_memory().unwrap()), ())
}

/// The runtime-chosen enum delegates every call.
mod any_store {
    use super::any_store;
    crate::conformance::conformance_tests!(any_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_is_told_to_reload_and_continues() {
    let store = RedbStore::in_memory().unwrap();
    let mut watch = store.watch("").await.unwrap();
    // More transactions than the backlog and the channel hold, with nobody reading.
    for i in 0..6000 {
        assert!(
            store
                .txn(Txn::new().put(format!("k/{i}"), "v"))
                .await
                .unwrap()
                .is_committed()
        );
    }
    let mut seen = 0;
    let missed = loop {
        match tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
        {
            Ok(_) => seen += 1,
            Err(Error::WatchLagged { missed }) => break missed,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(missed > 0 && seen < 6000, "seen {seen}, missed {missed}");
    let rev = store.txn(Txn::new().put("after", "v")).await.unwrap().revision();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if event.key() == "after" {
            assert_eq!(event.revision(), rev);
            break;
        }
    }
}

#[tokio::test]
async fn a_dropped_store_ends_its_watches() {
    let store = RedbStore::in_memory().unwrap();
    let mut watch = store.watch("").await.unwrap();
    drop(store);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_second_open_serves_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2) = {
        let store = RedbStore::open(dir.path()).await.unwrap();
        let r1 = store
            .txn(Txn::new().put("roles/a", "A").put("idx/1", "a"))
            .await
            .unwrap()
            .revision();
        let r2 = store
            .txn(Txn::new().put("roles/b", "B").delete("idx/1"))
            .await
            .unwrap()
            .revision();
        (r1, r2)
    };
    let store = RedbStore::open(dir.path()).await.unwrap();
    assert_eq!(store.path(), dir.path().join(RedbStore::FILE_NAME));
    assert_eq!(store.revision().await.unwrap(), r2);
    assert_eq!(
        store.get("roles/a").await.unwrap(),
        Some(Entry {
            value: b"A".to_vec(),
            revision: r1
        })
    );
    assert_eq!(
        store.get("roles/b").await.unwrap(),
        Some(Entry {
            value: b"B".to_vec(),
            revision: r2
        })
    );
    assert_eq!(store.get("idx/1").await.unwrap(), None);
    // The revision counter carries on from the stored one.
    let r3 = store.txn(Txn::new().put("roles/c", "C")).await.unwrap().revision();
    assert_eq!(r3, r2 + 1);
}

#[tokio::test]
async fn an_open_store_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _store = RedbStore::open(dir.path()).await.unwrap();
    let err = RedbStore::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("locked") && msg.contains(RedbStore::FILE_NAME), "{msg}");
}

/// The child side of `a_store_open_in_another_process_is_locked`: holds the store open.
#[test]
fn lock_holder_child_process() {
    let Ok(dir) = std::env::var("IRSA_STORE_LOCK_CHILD_DIR") else {
        return;
    };
    let _store = RedbStore::open_blocking(Path::new(&dir)).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "open").unwrap();
    out.flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[tokio::test]
async fn a_store_open_in_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = child_test("lock_holder_child_process", "IRSA_STORE_LOCK_CHILD_DIR", dir.path());
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.map_while(Result::ok).any(|l| l == "open"),
        "the child did not open the store"
    );
    let err = RedbStore::open(dir.path()).await.unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    // Once the holder is gone (even killed), the store opens.
    RedbStore::open(dir.path()).await.unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(RedbStore::FILE_NAME);
    for garbage in [
        b"this is not a redb file".repeat(1000),
        vec![0u8; 4096],
        vec![0xffu8; 100_000],
        vec![],
    ] {
        std::fs::write(&file, &garbage).unwrap();
        match RedbStore::open(dir.path()).await {
            Err(err @ (Error::Corrupt { .. } | Error::Io { .. })) => {
                assert!(err.to_string().contains(RedbStore::FILE_NAME), "{err}");
            }
            // An empty file is a new database.
            Ok(store) if garbage.is_empty() => assert_eq!(store.revision().await.unwrap(), 0),
            other => panic!("garbage of {} bytes: {other:?}", garbage.len()),
        }
    }
}

#[tokio::test]
async fn a_damaged_store_is_reported_as_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).await.unwrap();
        for i in 0..200 {
            let _ = store
                .txn(Txn::new().put(format!("roles/{i:03}"), vec![b'x'; 500]))
                .await
                .unwrap();
        }
    }
    let file = dir.path().join(RedbStore::FILE_NAME);
    let pristine = std::fs::read(&file).unwrap();
    // Truncations and overwritten regions: a clear error, never a panic.
    let len = pristine.len();
    let mut damaged: Vec<Vec<u8>> = [len / 2, len / 4, 600, 100]
        .iter()
        .map(|&n| pristine[..n].to_vec())
        .collect();
    for start in [0, 64, 512, len / 3, len / 2, len - 4096] {
        let mut d = pristine.clone();
        for b in &mut d[start..(start + 4096).min(len)] {
            *b ^= 0x5a;
        }
        damaged.push(d);
    }
    for (i, bytes) in damaged.iter().enumerate() {
        std::fs::write(&file, bytes).unwrap();
        let result = tokio::spawn({
            let dir = dir.path().to_path_buf();
            async move {
                let store = RedbStore::open(&dir).await?;
                let page = store.list("", None, 1000).await?;
                store.get("roles/000").await?;
                Ok::<_, Error>(page.entries.len())
            }
        })
        .await;
        match result {
            // The integrity check on open catches all of these.
            Ok(Err(e @ Error::Corrupt { .. })) => assert!(e.to_string().contains(RedbStore::FILE_NAME), "{e}"),
            Ok(other) => panic!("damage #{i} should be reported as corruption: {other:?}"),
            Err(join) => panic!("damage #{i} made the store panic: {join}"),
        }
    }
}

const DURABILITY_ENV: &str = "IRSA_STORE_DURABILITY_CHILD_DIR";

/// The child side of `acknowledged_writes_survive_sigkill`: writes transactions forever and
/// prints `acked N REV` after each one commits.
#[test]
fn durability_child_process() {
    let Ok(dir) = std::env::var(DURABILITY_ENV) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = RedbStore::open(&dir).await.unwrap();
        let mut out = std::io::stdout().lock();
        for i in 0u64.. {
            let txn = Txn::new()
                .when(Compare::absent(format!("acked/{i:08}")))
                .put(format!("acked/{i:08}"), value_of(i))
                .put("last", i.to_string());
            let TxnOutcome::Committed { revision } = store.txn(txn).await.unwrap() else {
                panic!("conflict on a fresh key")
            };
            writeln!(out, "acked {i} {revision}").unwrap();
            out.flush().unwrap();
        }
    });
}

fn value_of(i: u64) -> Vec<u8> {
    format!("value {i} ").repeat(1 + (i % 50) as usize).into_bytes()
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = child_test("durability_child_process", DURABILITY_ENV, dir.path());
        let mut acked = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = 100 + round * 37;
        while acked.len() < target {
            let line = lines.next().expect("child exited early").unwrap();
            if line.starts_with("acked ") {
                acked.push(parse_ack(&line));
            }
            assert!(
                Instant::now() < deadline,
                "child too slow: {} acks in 60 s",
                acked.len()
            );
        }
        child.kill().unwrap(); // SIGKILL, mid-transaction most likely
        // Acks printed before the kill still count.
        acked.extend(
            lines
                .map_while(Result::ok)
                .filter(|l| l.starts_with("acked "))
                .map(|l| parse_ack(&l)),
        );
        child.wait().unwrap();

        let store = RedbStore::open(dir.path()).await.unwrap();
        for &(i, revision) in &acked {
            let entry = store.get(&format!("acked/{i:08}")).await.unwrap();
            assert_eq!(
                entry,
                Some(Entry {
                    value: value_of(i),
                    revision
                }),
                "round {round}: acked write {i} lost"
            );
        }
        // At most the one in-flight transaction is there beyond the acks, and nothing is torn.
        let last: u64 = std::str::from_utf8(&store.get("last").await.unwrap().unwrap().value)
            .unwrap()
            .parse()
            .unwrap();
        let (max_acked, _) = *acked.last().unwrap();
        assert!(
            last == max_acked || last == max_acked + 1,
            "round {round}: last {last}, acked {max_acked}"
        );
        let page = store.list("acked/", None, 100_000).await.unwrap();
        assert_eq!(page.entries.len() as u64, last + 1);
        drop(store);
        // The next round goes on from the same file: make room for new keys.
        let store = RedbStore::open(dir.path()).await.unwrap();
        let mut txn = Txn::new();
        for (k, _) in &page.entries {
            txn = txn.delete(k.clone());
        }
        assert!(store.txn(txn).await.unwrap().is_committed());
    }
}

fn parse_ack(line: &str) -> (u64, u64) {
    let mut parts = line.split(' ');
    assert_eq!(parts.next(), Some("acked"), "{line}");
    let i = parts.next().unwrap().parse().unwrap();
    let rev = parts.next().unwrap().parse().unwrap();
    (i, rev)
}

/// Re-runs this test binary as a child process running only the test `name`, with `env` set to
/// `dir`; its stdout is piped.
fn child_test(name: &str, env: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(env, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn an_unusable_data_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory is a file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = RedbStore::open(&file).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
    // The database file's name is taken by a directory.
    std::fs::create_dir_all(dir.path().join("data").join(RedbStore::FILE_NAME)).unwrap();
    let err = RedbStore::open(dir.path().join("data")).await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(RedbStore::FILE_NAME), "{err}");
}
