//! Leader election through a `coordination.k8s.io` Lease against tower-test's mock API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use http::{Request, Response};
use irsa_controller::run::LeaseLock;
use kube::client::Body;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

async fn answer(handle: &mut Handle, code: u16, body: Value) -> (String, String, Value) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("no request")
        .expect("closed");
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let sent: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    send.send_response(
        Response::builder()
            .status(code)
            .body(Body::from(body.to_string().into_bytes()))
            .unwrap(),
    );
    (method, path, sent)
}

fn lease(holder: &str, renewed: &str, transitions: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "irsa-profile-controller", "namespace": "kubeflow", "resourceVersion": "5"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed,
                 "acquireTime": renewed, "leaseTransitions": transitions}})
}

fn status(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason, "code": code})
}

#[tokio::test]
async fn lease_acquire_renew_and_respect() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let lock = LeaseLock::new(
        client,
        "kubeflow",
        "irsa-profile-controller",
        "me",
        Duration::from_secs(15),
    );
    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kubeflow/leases";

    // No lease yet: created.
    let l = lock.clone();
    let t = tokio::spawn(async move { l.try_acquire_or_renew().await.unwrap() });
    let (m, p, _) = answer(&mut handle, 404, status(404, "NotFound")).await;
    assert_eq!(
        (m.as_str(), p.as_str()),
        (
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/kubeflow/leases/irsa-profile-controller"
        )
    );
    let (m, p, sent) = answer(&mut handle, 201, lease("me", "2026-01-01T00:00:00Z", 0)).await;
    assert_eq!((m.as_str(), p.as_str()), ("POST", PATH));
    assert_eq!(sent["spec"]["holderIdentity"], "me");
    assert!(t.await.unwrap());

    // Someone else holds a fresh lease: not taken.
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let l = lock.clone();
    let t = tokio::spawn(async move { l.try_acquire_or_renew().await.unwrap() });
    answer(&mut handle, 200, lease("other", &now, 3)).await;
    assert!(!t.await.unwrap());

    // Someone else's lease expired: taken over with the read resourceVersion.
    let l = lock.clone();
    let t = tokio::spawn(async move { l.try_acquire_or_renew().await.unwrap() });
    answer(&mut handle, 200, lease("other", "2020-01-01T00:00:00Z", 3)).await;
    let (m, _, sent) = answer(&mut handle, 200, lease("me", &now, 4)).await;
    assert_eq!(m, "PUT");
    assert_eq!(sent["metadata"]["resourceVersion"], "5");
    assert_eq!(sent["spec"]["holderIdentity"], "me");
    assert_eq!(sent["spec"]["leaseTransitions"], 4);
    assert!(t.await.unwrap());

    // Losing the race (409 Conflict) is not leading.
    let l = lock.clone();
    let t = tokio::spawn(async move { l.try_acquire_or_renew().await.unwrap() });
    answer(&mut handle, 200, lease("me", &now, 4)).await;
    answer(&mut handle, 409, status(409, "Conflict")).await;
    assert!(!t.await.unwrap());
}
