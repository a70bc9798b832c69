//! Where and how to reach etcd: endpoints, namespace, timeouts and TLS material.

use std::time::Duration;

/// Where and how to reach etcd.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// Client URLs (`http://host:2379`, or `https://` with [`EtcdConfig::tls`]).
    pub endpoints: Vec<String>,
    /// Prefix of every key in etcd (default `irsa/`); store keys are relative to it.
    pub namespace: String,
    /// How long to wait for a connection (default 5 s).
    pub connect_timeout: Duration,
    /// How long to wait for the answer to a request, every attempt at every member included
    /// (default 10 s).
    pub request_timeout: Duration,
    /// How long one attempt at one member may take before the request moves to another member
    /// (default 2 s, capped by the request timeout). It bounds what a dead or cut-off member
    /// costs a request; connecting to a member gets three quarters of it at most.
    pub attempt_timeout: Duration,
    /// TLS for `https://` endpoints (none by default).
    pub tls: Option<EtcdTls>,
}

/// TLS to etcd: the CA that signed etcd's server certificate, and optionally a client certificate
/// (etcd's `--client-cert-auth`). rustls with aws-lc-rs; PEM inputs.
#[derive(Clone)]
#[non_exhaustive]
pub struct EtcdTls {
    /// PEM of the CA certificate(s) that etcd's server certificate chains to.
    pub ca_pem: Vec<u8>,
    /// PEM of the client certificate chain and its private key.
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name to verify the server certificate against, when not the endpoint's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("EtcdTls")
            .field("client_identity", &self.client_identity.is_some())
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl EtcdTls {
    /// Verify etcd's certificate against these CA certificates (PEM).
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: ca_pem.into(),
            client_identity: None,
            server_name: None,
        }
    }

    /// Present this client certificate chain and key (PEM).
    #[must_use]
    pub fn with_client_identity(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.client_identity = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Verify the server certificate for this name instead of the endpoint's host.
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

impl EtcdConfig {
    /// The defaults for these endpoints: namespace `irsa/`, 5 s to connect (at most three
    /// quarters of an attempt), 2 s per attempt at one member, 10 s per request.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            namespace: "irsa/".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
            tls: None,
        }
    }

    /// Sets TLS (for `https://` endpoints).
    #[must_use]
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the namespace prefix.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the time one attempt at one member may take.
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}
