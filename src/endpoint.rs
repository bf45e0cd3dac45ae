//! Endpoints: where a client connects (host, port, TLS mode and certificates,
//! the credential, the command timeout, and the server process whose death
//! explains a broken connection). A server hands one out; a client takes it,
//! so clients never read a server's state.

use std::sync::Arc;
use std::time::Duration;

use crate::process::ProcessState;
use crate::tls::TlsMode;

/// Where a client connects: what a server hands out (`Server::endpoint`).
/// TLS clients trust the process-wide test CA (the one every server's TLS
/// files hold) and present its client certificate under mutual TLS.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: TlsMode,
    /// The server process to consult when the connection breaks.
    pub(crate) process: Option<Arc<ProcessState>>,
    /// How long a command may wait for its reply (`None`: forever).
    pub(crate) command_timeout: Option<Duration>,
    pub(crate) description: String,
    /// Sent with AUTH on connect.
    pub(crate) password: Option<String>,
    /// Trusted / presented instead of vtf's own CA (servers vtf did not start).
    pub(crate) certificates: Option<Arc<ClientCertificates>>,
}

/// PEM text a TLS client trusts and presents instead of vtf's generated
/// CA and client certificate: for servers that vtf did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificates {
    pub ca_cert_pem: Vec<u8>,
    /// Client certificate and key, presented under mutual TLS.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl ClientCertificates {
    pub(crate) fn for_redis(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: Some(self.ca_cert_pem.clone()),
        }
    }
}

impl Endpoint {
    /// `host:port`, plain TCP, with no process behind it to watch.
    pub fn new(host: impl Into<String>, port: u16) -> Endpoint {
        let host = host.into();
        Endpoint {
            description: format!("{host}:{port}"),
            host,
            port,
            tls: TlsMode::Off,
            process: None,
            password: None,
            certificates: None,
            command_timeout: None,
        }
    }

    /// The credential to AUTH with on connect.
    pub fn password(mut self, password: Option<String>) -> Endpoint {
        self.password = password;
        self
    }

    /// TLS with these certificates instead of vtf's own.
    pub fn certificates(mut self, certificates: Arc<ClientCertificates>) -> Endpoint {
        self.certificates = Some(certificates);
        self
    }

    pub fn tls(mut self, mode: TlsMode) -> Endpoint {
        self.tls = mode;
        self
    }

    /// How long each command of a client of this endpoint may wait for its
    /// reply (`None`: forever); a client can change it with `set_timeout`.
    pub fn command_timeout(mut self, timeout: Option<Duration>) -> Endpoint {
        self.command_timeout = timeout;
        self
    }

    /// The process whose death explains a broken connection.
    pub(crate) fn watching(mut self, process: Arc<ProcessState>) -> Endpoint {
        self.process = Some(process);
        self
    }

    /// The same endpoint without a watched process: for SHUTDOWN, whose
    /// connection is meant to break.
    pub(crate) fn unwatched(mut self) -> Endpoint {
        self.process = None;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    pub fn get_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// What error messages call it ("127.0.0.1:PORT").
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_on() { "rediss" } else { "redis" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}
