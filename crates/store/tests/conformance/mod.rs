//! The one conformance suite every `Store` backend passes, instantiated per backend the way rustls
//! instantiates its API tests per crypto provider: each backend's test file declares
//! `mod conformance;` and calls `conformance_tests!(factory)`, where `factory()` returns a fresh,
//! empty store and a guard that keeps its resources (a temp dir, an etcd server) alive.
//!
//! Absolute revisions are never asserted: etcd's revision is the cluster's and starts at 1. Only
//! their order and equalities are.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use irsa_store::{Compare, Entry, Error, Store, Txn, TxnOutcome, WatchEvent};

/// Generates one `#[tokio::test]` per case for the backend made by `$factory`.
macro_rules! conformance_tests {
    ($factory:path) => {
        crate::conformance::conformance_tests!(@cases $factory;
            get_of_a_missing_key_is_none,
            put_then_get_returns_value_and_revision,
            overwrite_gets_a_newer_revision,
            one_revision_per_transaction,
            binary_and_large_values_round_trip,
            empty_keys_and_duplicate_writes_are_refused,
            list_pages_through_a_prefix_in_key_order,
            list_edge_cases,
            compare_absent_and_exists,
            compare_revision,
            failed_compare_writes_nothing,
            deletes,
            create_unless_exists_has_one_winner,
            concurrent_increments_lose_no_update,
            watch_sees_changes_under_its_prefix,
            watches_are_independent_and_stop_when_dropped,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = $factory().await;
                crate::conformance::$case(&store).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

async fn put<S: Store>(s: &S, key: &str, value: &[u8]) -> u64 {
    match s.txn(Txn::new().put(key, value)).await.unwrap() {
        TxnOutcome::Committed { revision } => revision,
        other => panic!("unconditional put of {key} did not commit: {other:?}"),
    }
}

async fn committed<S: Store>(s: &S, txn: Txn) -> u64 {
    let described = format!("{txn:?}");
    match s.txn(txn).await.unwrap() {
        TxnOutcome::Committed { revision } => revision,
        other => panic!("{described} did not commit: {other:?}"),
    }
}

async fn conflict<S: Store>(s: &S, txn: Txn) -> u64 {
    let described = format!("{txn:?}");
    match s.txn(txn).await.unwrap() {
        TxnOutcome::Conflict { revision } => revision,
        other => panic!("{described} should have conflicted: {other:?}"),
    }
}

async fn keys<S: Store>(s: &S, prefix: &str) -> Vec<String> {
    let page = s.list(prefix, None, 10_000).await.unwrap();
    assert!(!page.more);
    page.entries.into_iter().map(|(k, _)| k).collect()
}

async fn next_event(w: &mut irsa_store::Watch) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch error: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within 10 s"),
    }
}

async fn no_event(w: &mut irsa_store::Watch) {
    if let Ok(event) = tokio::time::timeout(Duration::from_millis(300), w.next()).await {
        panic!("unexpected watch event: {event:?}");
    }
}

pub async fn get_of_a_missing_key_is_none<S: Store>(s: &S) {
    assert_eq!(s.get("roles/nope").await.unwrap(), None);
    assert!(s.list("", None, 10).await.unwrap().entries.is_empty());
}

pub async fn put_then_get_returns_value_and_revision<S: Store>(s: &S) {
    let before = s.revision().await.unwrap();
    let rev = put(s, "roles/a", b"{\"RoleName\":\"a\"}").await;
    assert!(rev > before, "a write must advance the revision ({before} -> {rev})");
    let entry = s.get("roles/a").await.unwrap().unwrap();
    assert_eq!(
        entry,
        Entry {
            value: b"{\"RoleName\":\"a\"}".to_vec(),
            revision: rev
        }
    );
    assert!(s.revision().await.unwrap() >= rev);
}

pub async fn overwrite_gets_a_newer_revision<S: Store>(s: &S) {
    let r1 = put(s, "k", b"one").await;
    let r2 = put(s, "k", b"two").await;
    assert!(r2 > r1);
    assert_eq!(
        s.get("k").await.unwrap().unwrap(),
        Entry {
            value: b"two".to_vec(),
            revision: r2
        }
    );
}

pub async fn one_revision_per_transaction<S: Store>(s: &S) {
    let rev = committed(s, Txn::new().put("roles/r", "role").put("idx/role-id/AROA1", "r")).await;
    assert_eq!(s.get("roles/r").await.unwrap().unwrap().revision, rev);
    assert_eq!(s.get("idx/role-id/AROA1").await.unwrap().unwrap().revision, rev);
    // A transaction that changes nothing keeps the revision.
    let same = committed(s, Txn::new().when(Compare::exists("roles/r"))).await;
    assert_eq!(same, rev);
    let same = committed(s, Txn::new().delete("roles/absent")).await;
    assert_eq!(same, rev);
    assert_eq!(s.revision().await.unwrap(), rev);
}

pub async fn binary_and_large_values_round_trip<S: Store>(s: &S) {
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 0xff]).collect();
    put(s, "bin", &binary).await;
    assert_eq!(s.get("bin").await.unwrap().unwrap().value, binary);
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    put(s, "large", &large).await;
    assert_eq!(s.get("large").await.unwrap().unwrap().value, large);
    put(s, "empty", b"").await;
    assert_eq!(s.get("empty").await.unwrap().unwrap().value, b"");
    put(s, "unicode/é/🦀", "ü".as_bytes()).await;
    assert_eq!(s.get("unicode/é/🦀").await.unwrap().unwrap().value, "ü".as_bytes());
}

pub async fn empty_keys_and_duplicate_writes_are_refused<S: Store>(s: &S) {
    assert!(matches!(s.get("").await, Err(Error::InvalidKey { .. })));
    assert!(matches!(
        s.txn(Txn::new().put("", "v")).await,
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        s.txn(Txn::new().when(Compare::absent(""))).await,
        Err(Error::InvalidKey { .. })
    ));
    let dup = s.txn(Txn::new().put("k", "1").delete("k")).await;
    match dup {
        Err(Error::InvalidTxn(msg)) => assert!(msg.contains("\"k\""), "{msg}"),
        other => panic!("a key written twice must be refused: {other:?}"),
    }
    assert_eq!(s.get("k").await.unwrap(), None, "a refused transaction writes nothing");
}

pub async fn list_pages_through_a_prefix_in_key_order<S: Store>(s: &S) {
    // Neighbours that share the prefix's bytes but not the prefix.
    for k in ["roles", "rolesX/1", "roler/z", "idx/roles/a"] {
        put(s, k, b"other").await;
    }
    let mut want = BTreeMap::new();
    for name in ["e", "a", "Z", "c", "é", "b", "d", "a/b", "a0"] {
        let key = format!("roles/{name}");
        let rev = put(s, &key, name.as_bytes()).await;
        want.insert(
            key,
            Entry {
                value: name.as_bytes().to_vec(),
                revision: rev,
            },
        );
    }
    let want: Vec<(String, Entry)> = want.into_iter().collect();
    // Bytewise order: "Z" < "a" < "a/b" < "a0" < "b" … < "é".
    assert_eq!(want.first().unwrap().0, "roles/Z");
    assert_eq!(want.last().unwrap().0, "roles/é");

    for limit in [1, 2, 3, 4, 9, 10, 100] {
        let mut got = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = s.list("roles/", marker.as_deref(), limit).await.unwrap();
            pages += 1;
            assert!(page.entries.len() <= limit);
            got.extend(page.entries.iter().cloned());
            if !page.more {
                break;
            }
            assert_eq!(page.entries.len(), limit, "a page with more after it is full");
            marker = page.last_key().map(str::to_owned);
            assert!(pages <= want.len(), "paging does not terminate");
        }
        assert_eq!(got, want, "limit {limit}");
        assert_eq!(
            pages,
            want.len().div_ceil(limit).max(1),
            "limit {limit}: no empty trailing page"
        );
    }
}

pub async fn list_edge_cases<S: Store>(s: &S) {
    for k in ["a/1", "a/2", "a/3", "b/1"] {
        put(s, k, k.as_bytes()).await;
    }
    assert_eq!(keys(s, "").await, ["a/1", "a/2", "a/3", "b/1"]);
    // limit 0: nothing, but says whether anything is there.
    let page = s.list("a/", None, 0).await.unwrap();
    assert!(page.entries.is_empty() && page.more);
    let page = s.list("zzz/", None, 0).await.unwrap();
    assert!(page.entries.is_empty() && !page.more);
    // A marker before the prefix starts at the prefix; one past it gives nothing.
    let page = s.list("a/", Some("0"), 10).await.unwrap();
    assert_eq!(page.entries.len(), 3);
    let page = s.list("a/", Some("a/9"), 10).await.unwrap();
    assert!(page.entries.is_empty() && !page.more);
    let page = s.list("a/", Some("b"), 10).await.unwrap();
    assert!(page.entries.is_empty() && !page.more);
    // A marker that is not a key still pages from where it would sort.
    let page = s.list("a/", Some("a/1x"), 10).await.unwrap();
    assert_eq!(
        page.entries.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/2", "a/3"]
    );
    // Exactly `limit` left: not truncated.
    let page = s.list("a/", Some("a/1"), 2).await.unwrap();
    assert_eq!(page.entries.len(), 2);
    assert!(!page.more);
    // A full key as prefix matches itself.
    assert_eq!(keys(s, "a/2").await, ["a/2"]);
    assert!(keys(s, "c").await.is_empty());
}

pub async fn compare_absent_and_exists<S: Store>(s: &S) {
    committed(s, Txn::new().when(Compare::absent("x")).put("x", "1")).await;
    conflict(s, Txn::new().when(Compare::absent("x")).put("x", "2")).await;
    assert_eq!(s.get("x").await.unwrap().unwrap().value, b"1");
    committed(s, Txn::new().when(Compare::exists("x")).put("x", "3")).await;
    conflict(s, Txn::new().when(Compare::exists("y")).put("y", "1")).await;
    assert_eq!(s.get("y").await.unwrap(), None);
    // All compares must hold.
    conflict(
        s,
        Txn::new()
            .when(Compare::exists("x"))
            .when(Compare::exists("y"))
            .put("z", "1"),
    )
    .await;
    committed(
        s,
        Txn::new()
            .when(Compare::exists("x"))
            .when(Compare::absent("y"))
            .put("z", "1"),
    )
    .await;
    assert!(s.get("z").await.unwrap().is_some());
}

pub async fn compare_revision<S: Store>(s: &S) {
    let r1 = put(s, "p", b"v1").await;
    let r2 = committed(s, Txn::new().when(Compare::revision("p", r1)).put("p", "v2")).await;
    assert!(r2 > r1);
    // The stale revision no longer matches: optimistic concurrency.
    let at = conflict(s, Txn::new().when(Compare::revision("p", r1)).put("p", "v3")).await;
    assert!(at >= r2);
    assert_eq!(
        s.get("p").await.unwrap().unwrap(),
        Entry {
            value: b"v2".to_vec(),
            revision: r2
        }
    );
    // No key matches revision 0, an absent key matches no revision.
    conflict(s, Txn::new().when(Compare::revision("p", 0)).put("p", "v4")).await;
    conflict(s, Txn::new().when(Compare::revision("absent", 0)).put("absent", "v")).await;
    conflict(s, Txn::new().when(Compare::revision("absent", r2)).put("absent", "v")).await;
    assert_eq!(s.get("absent").await.unwrap(), None);
    // A revision compare on one key guards writes to others.
    committed(s, Txn::new().when(Compare::revision("p", r2)).put("q", "from p@r2")).await;
}

pub async fn failed_compare_writes_nothing<S: Store>(s: &S) {
    let r = put(s, "roles/r", b"role").await;
    let before = s.revision().await.unwrap();
    let at = conflict(
        s,
        Txn::new()
            .when(Compare::absent("roles/r"))
            .put("roles/r", "new")
            .put("idx/x", "1")
            .delete("roles/s"),
    )
    .await;
    assert_eq!(at, before, "a conflict reports the revision it was evaluated at");
    assert_eq!(s.revision().await.unwrap(), before);
    assert_eq!(
        s.get("roles/r").await.unwrap().unwrap(),
        Entry {
            value: b"role".to_vec(),
            revision: r
        }
    );
    assert_eq!(s.get("idx/x").await.unwrap(), None);
}

pub async fn deletes<S: Store>(s: &S) {
    let r1 = committed(s, Txn::new().put("roles/r", "role").put("idx/role-id/AROA1", "r")).await;
    // Delete the role and its index entry only if the role is unchanged.
    let r2 = committed(
        s,
        Txn::new()
            .when(Compare::revision("roles/r", r1))
            .delete("roles/r")
            .delete("idx/role-id/AROA1"),
    )
    .await;
    assert!(r2 > r1);
    assert_eq!(s.get("roles/r").await.unwrap(), None);
    assert_eq!(s.get("idx/role-id/AROA1").await.unwrap(), None);
    assert!(keys(s, "").await.is_empty());
    // Deleting what is gone changes nothing.
    assert_eq!(committed(s, Txn::new().delete("roles/r")).await, r2);
    // A deleted key can be created again, at a new revision.
    let r3 = committed(s, Txn::new().when(Compare::absent("roles/r")).put("roles/r", "again")).await;
    assert!(r3 > r2);
    // A put and a delete of other keys commit together.
    let r4 = committed(s, Txn::new().delete("roles/r").put("roles/s", "s")).await;
    assert!(r4 > r3);
    assert_eq!(keys(s, "roles/").await, ["roles/s"]);
}

pub async fn create_unless_exists_has_one_winner<S: Store + Clone>(s: &S) {
    let s = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let txn = Txn::new()
                .when(Compare::absent("roles/contested"))
                .put("roles/contested", format!("creator {i}"))
                .put(format!("idx/role-id/AROA{i}"), "contested");
            s.txn(txn).await.unwrap().is_committed()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(
        keys(s.as_ref(), "idx/role-id/").await.len(),
        1,
        "only the winner's index entry exists"
    );
}

pub async fn concurrent_increments_lose_no_update<S: Store + Clone>(s: &S) {
    const TASKS: u64 = 8;
    const EACH: u64 = 10;
    let mut watch = s.watch("counter").await.unwrap();
    let s = Arc::new(s.clone());
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..EACH {
                loop {
                    let current = s.get("counter").await.unwrap();
                    let (n, compare) = match &current {
                        None => (0, Compare::absent("counter")),
                        Some(e) => {
                            let n: u64 = std::str::from_utf8(&e.value).unwrap().parse().unwrap();
                            (n, Compare::revision("counter", e.revision))
                        }
                    };
                    let txn = Txn::new().when(compare).put("counter", (n + 1).to_string());
                    if s.txn(txn).await.unwrap().is_committed() {
                        break;
                    }
                    conflicts += 1;
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let value = s.get("counter").await.unwrap().unwrap().value;
    assert_eq!(std::str::from_utf8(&value).unwrap(), (TASKS * EACH).to_string());
    // A watcher saw every increment, in order, at increasing revisions.
    let mut last_revision = 0;
    for n in 1..=TASKS * EACH {
        match next_event(&mut watch).await {
            WatchEvent::Put { entry, .. } => {
                assert_eq!(std::str::from_utf8(&entry.value).unwrap(), n.to_string());
                assert!(entry.revision > last_revision);
                last_revision = entry.revision;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

pub async fn watch_sees_changes_under_its_prefix<S: Store>(s: &S) {
    let mut w = s.watch("roles/").await.unwrap();
    let r1 = committed(s, Txn::new().put("roles/a", "A").put("idx/role-id/AROA1", "a")).await;
    let r2 = put(s, "roles/b", b"B").await;
    let r3 = committed(s, Txn::new().delete("roles/a").delete("roles/never")).await;
    put(s, "rolesX", b"not under roles/").await;
    assert_eq!(
        next_event(&mut w).await,
        WatchEvent::Put {
            key: "roles/a".into(),
            entry: Entry {
                value: b"A".to_vec(),
                revision: r1
            }
        }
    );
    assert_eq!(
        next_event(&mut w).await,
        WatchEvent::Put {
            key: "roles/b".into(),
            entry: Entry {
                value: b"B".to_vec(),
                revision: r2
            }
        }
    );
    let deleted = next_event(&mut w).await;
    assert_eq!(
        deleted,
        WatchEvent::Delete {
            key: "roles/a".into(),
            revision: r3
        }
    );
    assert_eq!(deleted.key(), "roles/a");
    assert_eq!(deleted.revision(), r3);
    no_event(&mut w).await;
    // A conflict makes no event.
    conflict(s, Txn::new().when(Compare::absent("roles/b")).put("roles/b", "B2")).await;
    no_event(&mut w).await;
    // Events of one transaction come in the order of its writes.
    let r4 = committed(s, Txn::new().put("roles/y", "y").delete("roles/b").put("roles/x", "x")).await;
    let got = [
        next_event(&mut w).await,
        next_event(&mut w).await,
        next_event(&mut w).await,
    ];
    assert_eq!(
        got.iter().map(|e| (e.key(), e.revision())).collect::<Vec<_>>(),
        [("roles/y", r4), ("roles/b", r4), ("roles/x", r4)]
    );
}

pub async fn watches_are_independent_and_stop_when_dropped<S: Store>(s: &S) {
    let mut all = s.watch("").await.unwrap();
    let mut idx = s.watch("idx/").await.unwrap();
    let dropped = s.watch("").await.unwrap();
    drop(dropped);
    let r = committed(s, Txn::new().put("roles/a", "a").put("idx/1", "a")).await;
    assert_eq!(next_event(&mut all).await.key(), "roles/a");
    assert_eq!(next_event(&mut all).await.key(), "idx/1");
    let e = next_event(&mut idx).await;
    assert_eq!((e.key(), e.revision()), ("idx/1", r));
    no_event(&mut idx).await;
    // Many changes, read late: nothing lost, in revision order.
    let mut last = r;
    for i in 0..50 {
        last = put(s, &format!("idx/{i:02}"), b"v").await;
    }
    let mut seen = r;
    for i in 0..50 {
        let e = next_event(&mut idx).await;
        assert_eq!(e.key(), format!("idx/{i:02}"));
        assert!(e.revision() > seen);
        seen = e.revision();
    }
    assert_eq!(seen, last);
}
