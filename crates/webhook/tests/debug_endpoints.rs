//! `--enable-debugging-handlers` endpoints (upstream's debug paths), through the routers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use http_body_util::BodyExt;
use irsa_webhook::MutationConfig;
use irsa_webhook::annotations::ServiceAccountInfo;
use irsa_webhook::server::{AppState, metrics_router, router};
use irsa_webhook::store::IdentityStore;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn get(app: axum::Router, path: &str) -> (u16, Vec<u8>) {
    let resp = app
        .oneshot(http::Request::builder().uri(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
}

#[tokio::test]
async fn debug_paths_only_when_enabled() {
    let store = Arc::new(IdentityStore::new());
    store.upsert(
        "ns",
        "sa",
        ServiceAccountInfo::from_annotations(
            "eks.amazonaws.com",
            [
                ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/r"),
                ("eks.amazonaws.com/token-expiration", "3600"),
            ],
        ),
    );
    store.upsert("ns", "plain", ServiceAccountInfo::default());
    let mut state = AppState::new(store, MutationConfig::default());
    assert_eq!(get(metrics_router(state.clone()), "/debug/alpha/cache").await.0, 404);
    assert_eq!(get(router(state.clone()), "/debug/alpha/500").await.0, 404);

    state.debugging_handlers = true;
    let (status, body) = get(metrics_router(state.clone()), "/debug/alpha/cache").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        json!({"ns/sa": {"RoleARN": "arn:aws:iam::111122223333:role/r", "Audience": "sts.amazonaws.com",
                         "UseRegionalSTS": false, "TokenExpiration": 3600}})
    );
    let (status, body) = get(router(state.clone()), "/debug/alpha/deny").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["status"]["message"], "Test deny message");
    assert_eq!(
        get(router(state), "/debug/alpha/500").await,
        (500, b"test error".to_vec())
    );
}
