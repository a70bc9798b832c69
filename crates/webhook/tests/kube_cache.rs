//! The kube-rs side against tower-test's mock API server: the ServiceAccount watch (metadata-only
//! list, readiness after the initial list, watch events), the cache-miss API fetch and the
//! ConfigMap watch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use irsa_webhook::k8s::{ApiFetcher, watch_config_map, watch_service_accounts};
use irsa_webhook::store::{IdentityStore, Lookup};
use kube::client::Body;
use serde_json::json;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn mock() -> (kube::Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

fn sa_meta(ns: &str, name: &str, rv: &str, annotations: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": {"name": name, "namespace": ns, "resourceVersion": rv,
                        "annotations": annotations}})
}

async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached");
}

async fn next(handle: &mut Handle) -> (Request<Body>, tower_test::mock::SendResponse<Response<Body>>) {
    tokio::time::timeout(Duration::from_secs(20), handle.next_request())
        .await
        .expect("no request")
        .expect("service dropped")
}

#[tokio::test]
async fn service_account_watch_syncs_then_follows_events() {
    let (client, mut handle) = mock();
    let store = Arc::new(IdentityStore::new());
    let task = tokio::spawn(watch_service_accounts(
        client,
        store.clone(),
        "eks.amazonaws.com".into(),
    ));

    // Initial metadata-only list.
    let (req, send) = next(&mut handle).await;
    assert!(req.uri().path().starts_with("/api/v1/serviceaccounts"), "{}", req.uri());
    assert!(!req.uri().query().unwrap_or_default().contains("watch=true"));
    let accept = req.headers().get("accept").unwrap().to_str().unwrap();
    assert!(accept.contains("PartialObjectMetadataList"), "{accept}");
    assert!(!store.is_synced());
    let list = json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
        "metadata": {"resourceVersion": "10"},
        "items": [
            sa_meta("team", "reader", "5", json!({
                "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/reader",
                "kubectl.kubernetes.io/last-applied-configuration": "{...big...}"})),
            sa_meta("team", "default", "6", json!({})),
        ]
    });
    send.send_response(
        Response::builder()
            .body(Body::from(list.to_string().into_bytes()))
            .unwrap(),
    );
    wait_for(|| store.is_synced()).await;
    assert_eq!(store.annotated_len(), 1);
    assert_eq!(store.plain_len(), 1);
    assert!(matches!(store.lookup("team", "reader"), Lookup::Annotated(_)));
    assert_eq!(store.lookup("team", "default"), Lookup::Plain);

    // Watch: an account gains an annotation, another is deleted.
    let (req, send) = next(&mut handle).await;
    let query = req.uri().query().unwrap_or_default().to_owned();
    assert!(
        query.contains("watch=true") && query.contains("resourceVersion=10"),
        "{query}"
    );
    let events = [
        json!({"type": "ADDED", "object": sa_meta("team", "writer", "11",
            json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/writer"}))}),
        json!({"type": "DELETED", "object": sa_meta("team", "reader", "12", json!({}))}),
        json!({"type": "MODIFIED", "object": sa_meta("team", "default", "13",
            json!({"eks.amazonaws.com/audience": "x"}))}),
    ];
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    send.send_response(Response::builder().body(Body::from(body.into_bytes())).unwrap());
    wait_for(|| store.lookup("team", "reader") == Lookup::Unknown).await;
    assert!(matches!(store.lookup("team", "writer"), Lookup::Annotated(_)));
    assert!(matches!(store.lookup("team", "default"), Lookup::Annotated(_)));
    assert_eq!(store.plain_len(), 0);
    task.abort();
}

#[tokio::test]
async fn cache_miss_is_looked_up_once_with_a_bound() {
    let (client, mut handle) = mock();
    let store = Arc::new(IdentityStore::new().with_fetcher(Arc::new(ApiFetcher::new(client, "eks.amazonaws.com"))));
    let s = store.clone();
    let lookup = tokio::spawn(async move { s.lookup_with_fallback("apps", "new-sa", Duration::from_secs(2)).await });
    let (req, send) = next(&mut handle).await;
    assert_eq!(req.uri().path(), "/api/v1/namespaces/apps/serviceaccounts/new-sa");
    send.send_response(
        Response::builder()
            .body(Body::from(
                sa_meta(
                    "apps",
                    "new-sa",
                    "1",
                    json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/n"}),
                )
                .to_string()
                .into_bytes(),
            ))
            .unwrap(),
    );
    assert!(matches!(lookup.await.unwrap(), Lookup::Annotated(_)));
    // Now cached: no further request.
    assert!(matches!(store.lookup("apps", "new-sa"), Lookup::Annotated(_)));

    // 404 ⇒ unknown.
    let s = store.clone();
    let lookup = tokio::spawn(async move { s.lookup_with_fallback("apps", "ghost", Duration::from_secs(2)).await });
    let (_, send) = next(&mut handle).await;
    let status = json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"});
    send.send_response(
        Response::builder()
            .status(404)
            .body(Body::from(status.to_string().into_bytes()))
            .unwrap(),
    );
    assert_eq!(lookup.await.unwrap(), Lookup::Unknown);

    // An API server that never answers is bounded by the grace period.
    let started = std::time::Instant::now();
    let r = store
        .lookup_with_fallback("apps", "slow", Duration::from_millis(100))
        .await;
    assert_eq!(r, Lookup::Unknown);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn config_map_watch_loads_updates_and_clears() {
    let (client, mut handle) = mock();
    let store = Arc::new(IdentityStore::new());
    let task = tokio::spawn(watch_config_map(client, store.clone(), "eks".into()));
    let (req, send) = next(&mut handle).await;
    assert!(
        req.uri().path().starts_with("/api/v1/namespaces/eks/configmaps"),
        "{}",
        req.uri()
    );
    assert!(
        req.uri()
            .query()
            .unwrap_or_default()
            .contains("fieldSelector=metadata.name%3Dpod-identity-webhook")
    );
    let cm = |rv: &str, config: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "pod-identity-webhook", "namespace": "eks", "resourceVersion": rv},
        "data": {"config": config}})
    };
    let list = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "3"},
        "items": [cm("2", r#"{"ns/sa":{"RoleARN":"arn:aws:iam::111122223333:role/a"}}"#)]});
    send.send_response(
        Response::builder()
            .body(Body::from(list.to_string().into_bytes()))
            .unwrap(),
    );
    wait_for(|| store.config_map().is_some()).await;
    assert_eq!(
        store.config_map().unwrap().get("ns", "sa").unwrap().role_arn,
        "arn:aws:iam::111122223333:role/a"
    );

    let (_, send) = next(&mut handle).await;
    let events = [
        json!({"type": "MODIFIED", "object": cm("4", "{broken")}),
        json!({"type": "MODIFIED", "object": cm("5", r#"{"*/sa":{"RoleARN":"r2"}}"#)}),
    ];
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    send.send_response(Response::builder().body(Body::from(body.into_bytes())).unwrap());
    wait_for(|| store.config_map().is_some_and(|m| m.get("x", "sa").is_some())).await;

    let (_, send) = next(&mut handle).await;
    let body = format!("{}\n", json!({"type": "DELETED", "object": cm("6", "{}")}));
    send.send_response(Response::builder().body(Body::from(body.into_bytes())).unwrap());
    wait_for(|| store.config_map().is_none()).await;
    task.abort();
}
