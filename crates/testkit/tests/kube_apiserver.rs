//! The throwaway control plane itself: it starts, serves the service-account issuer's
//! discovery document and JWKS to anonymous clients (as EKS does), and its admin is admin.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irsa_testkit::KubeApiServer;

#[test]
fn starts_and_serves_issuer_discovery_anonymously() {
    let api = KubeApiServer::start();
    let (status, body) = api
        .request_as(None, "GET", "/.well-known/openid-configuration", None)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!(r#""issuer":"{}""#, api.issuer())), "{body}");
    // kube-apiserver's JWKS is `application/jwk-set+json` only: the header irsa's verifier once
    // sent is refused, which is what the verifier's Accept header must cope with.
    let (status, body) = api.request_as(None, "GET", "/openid/v1/jwks", None).unwrap();
    assert_eq!(
        status, 406,
        "Accept: application/json is refused by kube-apiserver: {body}"
    );
    let (status, _) = api
        .request_as(Some("wrong"), "GET", "/api/v1/namespaces", None)
        .unwrap();
    assert_eq!(status, 401);
    let (status, body) = api.request("GET", "/api/v1/namespaces/default", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let kubeconfig = std::fs::read_to_string(&api.kubeconfig).unwrap();
    assert!(kubeconfig.contains(&api.url) && kubeconfig.contains(&api.admin_token));
}
