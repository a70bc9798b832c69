//! The thumbprint fetch against real local HTTPS servers: verification on,
//! the top of the presented chain (or the issuing CA for a lone leaf).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed assertion

mod common;

use common::tls_server;
use irsa_setup::{IssuerError, issuer_thumbprints, parse_ca_pem, sha1_hex};
use irsa_testkit::Pki;

fn sha1_of_pem(pem: &str) -> String {
    sha1_hex(&parse_ca_pem(pem.as_bytes()).unwrap()[0])
}

#[tokio::test]
async fn a_lone_leaf_gets_the_thumbprint_of_its_ca() {
    let pki = Pki::new();
    let addr = tls_server(&[&pki.cert_pem], &pki.key_pem).await;
    let other = Pki::new();
    // The CA file may hold other CAs too (even of the same name): the issuer's is taken.
    let bundle = format!("{}{}", other.ca_pem, pki.ca_pem);
    let list = issuer_thumbprints(&format!("https://{addr}/id/1"), Some(bundle.as_bytes()))
        .await
        .unwrap();
    assert_eq!(list, [sha1_of_pem(&pki.ca_pem)]);
    assert!(
        list[0].len() == 40
            && list[0]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
}

#[tokio::test]
async fn a_presented_chain_gets_the_thumbprint_of_its_top() {
    // root → intermediate → leaf; the server sends leaf and intermediate, the
    // CA file holds only the root: AWS's "top intermediate CA".
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut root = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root.distinguished_name.push(rcgen::DnType::CommonName, "on-prem root");
    let root_pem = root.self_signed(&root_key).unwrap().pem();
    let root = rcgen::Issuer::new(root, root_key);
    let mid_key = rcgen::KeyPair::generate().unwrap();
    let mut mid = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    mid.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    mid.distinguished_name
        .push(rcgen::DnType::CommonName, "on-prem issuing CA");
    let mid_pem = mid.signed_by(&mid_key, &root).unwrap().pem();
    let mid = rcgen::Issuer::new(mid, mid_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf_pem = leaf.signed_by(&leaf_key, &mid).unwrap().pem();

    let addr = tls_server(&[&leaf_pem, &mid_pem], &leaf_key.serialize_pem()).await;
    let list = issuer_thumbprints(&format!("https://{addr}"), Some(root_pem.as_bytes()))
        .await
        .unwrap();
    assert_eq!(list, [sha1_of_pem(&mid_pem)]);
    assert_ne!(list[0], sha1_of_pem(&root_pem));
}

#[tokio::test]
async fn a_chain_the_ca_file_does_not_vouch_for_is_an_error_naming_the_host() {
    let pki = Pki::new();
    let addr = tls_server(&[&pki.cert_pem, &pki.ca_pem], &pki.key_pem).await;
    let stranger = Pki::new();
    let e = issuer_thumbprints(&format!("https://{addr}/id/1"), Some(stranger.ca_pem.as_bytes()))
        .await
        .unwrap_err();
    assert!(matches!(e, IssuerError::Tls { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    // Test CAs share their name, so rustls finds the stranger and rejects its signature.
    assert!(text.contains("invalid peer certificate: BadSignature"), "{text}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_an_error() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let ca = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_pem = rcgen::CertificateParams::new(vec!["oidc.example.com".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap()
        .pem();
    let addr = tls_server(&[&leaf_pem], &leaf_key.serialize_pem()).await;
    let e = issuer_thumbprints(&format!("https://{addr}/"), Some(ca_pem.as_bytes()))
        .await
        .unwrap_err();
    assert!(matches!(e, IssuerError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("not valid for name \"127.0.0.1\""), "{e}");
}
