//! The issuer's facts that IAM needs and the configuration does not give:
//! its URL (from EKS DescribeCluster) and, for an issuer behind a private CA,
//! the thumbprint of its top CA certificate.
//!
//! The thumbprint is a pure function of the certificate chain ([`thumbprint`]);
//! getting the chain is one verified TLS handshake ([`fetch_chain`]). kfctl
//! fetched it with verification off and sent whatever came back; here the
//! chain must verify against the CA file given, and without one nothing is
//! fetched at all: IAM trusts public CAs itself, and EKS issuers never need a
//! thumbprint.

use crate::apply::{ApplyError, fail};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;

/// How long the TLS handshake with the issuer may take, connection included.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the issuer or its thumbprint could not be found.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// DescribeCluster says there is no such cluster.
    #[error(
        "EKS cluster `{cluster}` not found in region {region}: check the name (--cluster-name) and the region, or pass --issuer with the cluster's OIDC issuer URL"
    )]
    ClusterNotFound {
        /// The name asked for.
        cluster: String,
        /// The region asked in.
        region: String,
    },
    /// The cluster exists but has no OIDC issuer.
    #[error(
        "EKS cluster `{cluster}` has no OIDC issuer (cluster.identity.oidc.issuer is empty); pass --issuer with the issuer URL"
    )]
    NoOidcIssuer {
        /// The cluster.
        cluster: String,
    },
    /// The EKS call failed otherwise.
    #[error(transparent)]
    Eks(ApplyError),
    /// The CA file holds no usable certificate.
    #[error("the CA file holds no PEM certificate{0}")]
    CaFile(String),
    /// The issuer URL has no host to connect to.
    #[error("cannot connect to the issuer `{0}`: not an https:// URL with a host")]
    Url(String),
    /// The TCP connection failed.
    #[error("cannot connect to the issuer at {host}: {source}")]
    Connect {
        /// `host:port`.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed, certificate verification included.
    #[error("TLS with the issuer at {host} failed (its certificate must verify against the CA file): {message}")]
    Tls {
        /// `host:port`.
        host: String,
        /// rustls's reason.
        message: String,
    },
    /// No answer in time.
    #[error("no TLS handshake with the issuer at {host} within {}s", HANDSHAKE_TIMEOUT.as_secs())]
    Timeout {
        /// `host:port`.
        host: String,
    },
    /// The server sent no certificate.
    #[error("the issuer sent no certificate")]
    NoCertificate,
    /// The server sent only its leaf, and no certificate of the CA file issued it.
    #[error("the issuer sent only its own certificate, and no certificate in the CA file issued it")]
    NoIssuingCa,
}

/// The OIDC issuer of EKS cluster `cluster`: DescribeCluster's
/// `cluster.identity.oidc.issuer`, in `conf`'s region.
pub async fn issuer_from_eks(conf: &aws_config::SdkConfig, cluster: &str) -> Result<String, IssuerError> {
    let region = conf
        .region()
        .map_or_else(|| "(none set)".to_owned(), ToString::to_string);
    match aws_sdk_eks::Client::new(conf)
        .describe_cluster()
        .name(cluster)
        .send()
        .await
    {
        Ok(out) => issuer_of(cluster, out.cluster()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Err(IssuerError::ClusterNotFound {
                cluster: cluster.to_owned(),
                region,
            })
        }
        Err(e) => Err(IssuerError::Eks(fail("DescribeCluster", &e))),
    }
}

fn issuer_of(name: &str, cluster: Option<&aws_sdk_eks::types::Cluster>) -> Result<String, IssuerError> {
    cluster
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| IssuerError::NoOidcIssuer {
            cluster: name.to_owned(),
        })
}

/// Lowercase hex SHA-1 of `der`: the form IAM's ThumbprintList takes.
pub fn sha1_hex(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The thumbprint IAM expects, as AWS documents it: of the last certificate
/// the server presents (its top intermediate or root CA); when it presents
/// only its leaf, of the certificate in `ca` that issued the leaf (checked
/// by signature at `now`, since CA names need not be unique).
pub fn thumbprint(
    presented: &[CertificateDer<'_>],
    ca: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<String, IssuerError> {
    match presented {
        [] => Err(IssuerError::NoCertificate),
        [leaf] => {
            let leaf = webpki::EndEntityCert::try_from(leaf).map_err(|_| IssuerError::NoIssuingCa)?;
            let algorithms = rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .all;
            let issued = |c: &CertificateDer<'_>| {
                webpki::anchor_from_trusted_cert(c).is_ok_and(|anchor| {
                    leaf.verify_for_usage(
                        algorithms,
                        &[anchor],
                        &[],
                        now,
                        webpki::KeyUsage::server_auth(),
                        None,
                        None,
                    )
                    .is_ok()
                })
            };
            ca.iter()
                .find(|c| issued(c))
                .map(|c| sha1_hex(c))
                .ok_or(IssuerError::NoIssuingCa)
        }
        [.., top] => Ok(sha1_hex(top)),
    }
}

/// The certificates of a PEM bundle.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, IssuerError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IssuerError::CaFile(format!(": {e}")))?;
    if certs.is_empty() {
        return Err(IssuerError::CaFile(String::new()));
    }
    Ok(certs)
}

/// Host and port of an `https://` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 443,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// The certificate chain the issuer's server presents, after verifying it
/// against `ca` (and only `ca`) for the issuer's host name.
pub async fn fetch_chain(
    issuer_url: &str,
    ca: &[CertificateDer<'static>],
) -> Result<Vec<CertificateDer<'static>>, IssuerError> {
    let (host, port) = host_port(issuer_url).ok_or_else(|| IssuerError::Url(issuer_url.to_owned()))?;
    let at = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let tls_error = |message: String| IssuerError::Tls {
        host: at.clone(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in ca {
        roots
            .add(c.clone())
            .map_err(|e| IssuerError::CaFile(format!(" usable as a trust anchor: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|_| IssuerError::Url(issuer_url.to_owned()))?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|source| IssuerError::Connect {
                host: at.clone(),
                source,
            })?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| tls_error(e.to_string()))?;
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        // A polite close; the chain is already in hand, so its failure does not matter.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
        Ok(chain)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| IssuerError::Timeout { host: at.clone() })?
}

/// The thumbprints to register for `issuer_url`: none for an `http://` issuer
/// or without a CA file (no connection is made then); else the one of the
/// chain the issuer presents, verified against the CA file's certificates.
pub async fn issuer_thumbprints(issuer_url: &str, ca_pem: Option<&[u8]>) -> Result<Vec<String>, IssuerError> {
    let Some(pem) = ca_pem else {
        return Ok(Vec::new());
    };
    if !issuer_url.starts_with("https://") {
        return Ok(Vec::new());
    }
    let ca = parse_ca_pem(pem)?;
    let chain = fetch_chain(issuer_url, &ca).await?;
    Ok(vec![thumbprint(&chain, &ca, UnixTime::now())?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use irsa_testkit::Pki;

    fn der(pem: &str) -> CertificateDer<'static> {
        parse_ca_pem(pem.as_bytes()).unwrap().remove(0)
    }

    #[test]
    fn sha1_is_lowercase_hex_of_forty() {
        // FIPS 180-1's first test vector.
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn the_top_of_a_presented_chain_is_thumbprinted() {
        let pki = Pki::new();
        let (leaf, ca) = (der(&pki.cert_pem), der(&pki.ca_pem));
        let other = der(&Pki::new().ca_pem);
        // The top of what the server sends, even when the CA file holds something else.
        assert_eq!(
            thumbprint(&[leaf.clone(), ca.clone()], &[other], UnixTime::now()).unwrap(),
            sha1_hex(&ca)
        );
        let intermediate = CertificateDer::from(b"not parsed: only hashed".to_vec());
        assert_eq!(
            thumbprint(&[leaf, intermediate.clone()], &[], UnixTime::now()).unwrap(),
            sha1_hex(&intermediate)
        );
    }

    #[test]
    fn a_lone_leaf_takes_the_issuing_ca_from_the_file() {
        let pki = Pki::new();
        let (leaf, ca) = (der(&pki.cert_pem), der(&pki.ca_pem));
        // Another CA of the very same name comes first: the signature decides, not the name.
        let namesake = der(&Pki::new().ca_pem);
        let t = thumbprint(
            std::slice::from_ref(&leaf),
            &[namesake.clone(), ca.clone()],
            UnixTime::now(),
        )
        .unwrap();
        assert_eq!(t, sha1_hex(&ca));
        assert_eq!(t.len(), 40);
        assert!(matches!(
            thumbprint(std::slice::from_ref(&leaf), &[namesake], UnixTime::now()),
            Err(IssuerError::NoIssuingCa)
        ));
        assert!(matches!(
            thumbprint(&[], &[ca], UnixTime::now()),
            Err(IssuerError::NoCertificate)
        ));
    }

    #[test]
    fn host_and_port_of_issuer_urls() {
        assert_eq!(
            host_port("https://oidc.example.com/id/X"),
            Some(("oidc.example.com".into(), 443))
        );
        assert_eq!(host_port("https://127.0.0.1:8443"), Some(("127.0.0.1".into(), 8443)));
        assert_eq!(host_port("https://[::1]:9/x"), Some(("::1".into(), 9)));
        assert_eq!(host_port("https://[::1]/x"), Some(("::1".into(), 443)));
        assert_eq!(host_port("http://example.com"), None);
        assert_eq!(host_port("https:///x"), None);
        assert_eq!(host_port("https://u@example.com"), None);
        assert_eq!(host_port("https://example.com:99999"), None);
    }

    #[test]
    fn bad_ca_files_say_so() {
        assert!(matches!(parse_ca_pem(b"nothing here"), Err(IssuerError::CaFile(_))));
        let e = parse_ca_pem(b"").unwrap_err().to_string();
        assert_eq!(e, "the CA file holds no PEM certificate");
    }

    #[tokio::test]
    async fn no_ca_file_or_an_http_issuer_means_no_thumbprint_and_no_connection() {
        // Port 1 on loopback: a connection attempt would fail, so success shows none was made.
        assert!(
            issuer_thumbprints("https://127.0.0.1:1/x", None)
                .await
                .unwrap()
                .is_empty()
        );
        let pki = Pki::new();
        let pem = pki.ca_pem.as_bytes();
        assert!(
            issuer_thumbprints("http://127.0.0.1:1/x", Some(pem))
                .await
                .unwrap()
                .is_empty()
        );
        let e = issuer_thumbprints("https://127.0.0.1:1/x", Some(pem))
            .await
            .unwrap_err();
        assert!(matches!(e, IssuerError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }

    #[test]
    fn cluster_without_an_issuer_is_a_clear_error() {
        use aws_sdk_eks::types::{Cluster, Identity, Oidc};
        let bare = Cluster::builder().name("prod").build();
        let e = issuer_of("prod", Some(&bare)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "EKS cluster `prod` has no OIDC issuer (cluster.identity.oidc.issuer is empty); pass --issuer with the issuer URL"
        );
        assert!(matches!(issuer_of("prod", None), Err(IssuerError::NoOidcIssuer { .. })));
        let with = Cluster::builder()
            .identity(
                Identity::builder()
                    .oidc(Oidc::builder().issuer("https://oidc.example/id/1").build())
                    .build(),
            )
            .build();
        assert_eq!(issuer_of("prod", Some(&with)).unwrap(), "https://oidc.example/id/1");
    }
}
