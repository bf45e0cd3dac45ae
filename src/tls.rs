//! TLS material generated in-process with rcgen (being written: see issue 4).

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// PEM text of the generated CA, server and client certificates and keys.
#[derive(Debug)]
pub struct Certificates {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

/// Paths of the PEM files written for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// The process-wide certificates, generated on first use.
pub fn certificates() -> Result<&'static Certificates> {
    Err(Error::new(ErrorKind::Tls, "TLS is not implemented yet"))
}

/// Writes the certificates as PEM files into `dir` (keys mode 0600).
pub fn write_files(dir: &Path) -> Result<TlsFiles> {
    let _ = dir;
    Err(Error::new(ErrorKind::Tls, "TLS is not implemented yet"))
}

/// The redis crate's TLS settings for our clients (stub until TLS lands).
pub fn client_certificates(mutual: bool) -> Result<redis::TlsCertificates> {
    let _ = mutual;
    Err(Error::new(ErrorKind::Tls, "TLS is not implemented yet"))
}

/// Installs rustls' ring provider as the process default (stub).
pub fn install_crypto_provider() {}

/// The server options for TLS on `port` (stub).
pub fn server_args(files: &TlsFiles, mutual: bool, port: u16) -> Vec<(String, String)> {
    let _ = (files, mutual, port);
    Vec::new()
}
