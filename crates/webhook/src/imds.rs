//! Minimal EC2 IMDSv2 client for `--compose-role-arn`: a session token (`PUT
//! /latest/api/token`), then the instance identity document (account id and region).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use tokio::net::TcpStream;

/// Default IMDS endpoint (host:port).
pub const IMDS_ADDR: &str = "169.254.169.254:80";

/// IMDS errors.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// Network / HTTP failure.
    #[error("{0}")]
    Http(String),
    /// Non-200 status.
    #[error("{path} answered HTTP {status}")]
    Status {
        /// Path.
        path: String,
        /// Status.
        status: u16,
    },
    /// The document lacks accountId / region.
    #[error("invalid instance identity document: {0}")]
    Document(String),
    /// Timeout.
    #[error("timed out")]
    Timeout,
}

/// The two fields used from the instance identity document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIdentity {
    /// AWS account id.
    pub account_id: String,
    /// Region of the instance.
    pub region: String,
}

async fn call(addr: &str, method: &str, path: &str, header: (&str, &str)) -> Result<Bytes, ImdsError> {
    let http = |e: &dyn std::fmt::Display| ImdsError::Http(e.to_string());
    let stream = TcpStream::connect(addr).await.map_err(|e| http(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "169.254.169.254")
        .header(header.0, header.1)
        .body(Empty::<Bytes>::new())
        .map_err(|e| http(&e))?;
    let response = sender.send_request(request).await.map_err(|e| http(&e))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ImdsError::Status {
            path: path.to_owned(),
            status,
        });
    }
    Ok(response.into_body().collect().await.map_err(|e| http(&e))?.to_bytes())
}

/// Fetches the instance identity document from `addr` (normally [`IMDS_ADDR`]).
pub async fn instance_identity_from(addr: &str, timeout: Duration) -> Result<InstanceIdentity, ImdsError> {
    let work = async {
        let token = call(
            addr,
            "PUT",
            "/latest/api/token",
            ("x-aws-ec2-metadata-token-ttl-seconds", "60"),
        )
        .await?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let doc = call(
            addr,
            "GET",
            "/latest/dynamic/instance-identity/document",
            ("x-aws-ec2-metadata-token", &token),
        )
        .await?;
        serde_json::from_slice::<InstanceIdentity>(&doc).map_err(|e| ImdsError::Document(e.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ImdsError::Timeout)?
}

/// Fetches the instance identity document from the EC2 metadata service.
pub async fn instance_identity(timeout: Duration) -> Result<InstanceIdentity, ImdsError> {
    instance_identity_from(IMDS_ADDR, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn token_then_document() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                let body = if req.starts_with("put /latest/api/token") {
                    assert!(req.contains("x-aws-ec2-metadata-token-ttl-seconds: 60"));
                    "TOKEN".to_owned()
                } else {
                    assert!(req.contains("x-aws-ec2-metadata-token: token"));
                    r#"{"accountId":"111122223333","region":"cn-north-1","instanceId":"i-1"}"#.to_owned()
                };
                let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                s.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        let doc = instance_identity_from(&addr, Duration::from_secs(5)).await.unwrap();
        assert_eq!(doc.account_id, "111122223333");
        assert_eq!(doc.region, "cn-north-1");
    }
}
