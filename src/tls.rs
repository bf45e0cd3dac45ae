//! TLS: whether servers speak it ([`TlsMode`]), and the material generated
//! in-process with rcgen: one CA, a server certificate and a client
//! certificate, created once per process and written as PEM files next to
//! each server that runs with TLS.
//!
//! Keys are ECDSA P-256 in PKCS#8 ("PRIVATE KEY"), which both OpenSSL (the
//! server, valkey-cli) and rustls (the redis crate) read. Generation is fast
//! (milliseconds), so no on-disk cache is kept.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, ErrorKind, Result};

/// Whether (and how) servers speak TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain TCP (the default unless env `VTF_TLS=1`).
    #[default]
    Off,
    /// The server listens with TLS only; clients verify the generated CA.
    On,
    /// Like `On`, and clients must present the generated client certificate.
    Mutual,
}

impl TlsMode {
    pub fn is_on(self) -> bool {
        self != TlsMode::Off
    }
}

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

/// File names used by [`write_files`] inside its directory.
pub const CA_CERT_FILE: &str = "ca.crt";
pub const SERVER_CERT_FILE: &str = "server.crt";
pub const SERVER_KEY_FILE: &str = "server.key";
pub const CLIENT_CERT_FILE: &str = "client.crt";
pub const CLIENT_KEY_FILE: &str = "client.key";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The process-wide certificates, generated on first use.
///
/// A generation failure is remembered too: it would fail the same way again.
pub fn certificates() -> Result<&'static Certificates> {
    static CERTS: OnceLock<Result<Certificates>> = OnceLock::new();
    CERTS.get_or_init(generate).as_ref().map_err(Clone::clone)
}

fn generate() -> Result<Certificates> {
    let tls_err = |what: &str, e: rcgen::Error| {
        Error::new(
            ErrorKind::Tls,
            format!("generating the test certificates: {what}: {e}"),
        )
    };
    let now = SystemTime::now();
    // From yesterday so a skewed clock (or a VM resumed later) still accepts them.
    let validity = |params: &mut CertificateParams| {
        params.not_before = (now - DAY).into();
        params.not_after = (now + 3653 * DAY).into();
    };

    let ca_key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("CA", e))?;
    validity(&mut ca);
    ca.distinguished_name
        .push(DnType::CommonName, "vtf test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| tls_err("CA certificate", e))?;
    let issuer = Issuer::new(ca, ca_key);

    // The server certificate doubles as Valkey's client certificate for
    // replication and the cluster bus, hence clientAuth as well.
    let server_key = KeyPair::generate().map_err(|e| tls_err("server key", e))?;
    let mut server = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|e| tls_err("server", e))?;
    validity(&mut server);
    server.distinguished_name = rcgen::DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, "vtf server");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    server.use_authority_key_identifier_extension = true;
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .map_err(|e| tls_err("server certificate", e))?;

    let client_key = KeyPair::generate().map_err(|e| tls_err("client key", e))?;
    let mut client =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("client", e))?;
    validity(&mut client);
    client.distinguished_name = rcgen::DistinguishedName::new();
    client
        .distinguished_name
        .push(DnType::CommonName, "vtf client");
    client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client.use_authority_key_identifier_extension = true;
    let client_cert = client
        .signed_by(&client_key, &issuer)
        .map_err(|e| tls_err("client certificate", e))?;

    Ok(Certificates {
        ca_cert_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    })
}

/// Writes the certificates as PEM files into `dir` (keys mode 0600).
pub fn write_files(dir: &Path) -> Result<TlsFiles> {
    let certs = certificates()?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating directory {}", dir.display()), e))?;
    let files = TlsFiles {
        ca_cert: dir.join(CA_CERT_FILE),
        server_cert: dir.join(SERVER_CERT_FILE),
        server_key: dir.join(SERVER_KEY_FILE),
        client_cert: dir.join(CLIENT_CERT_FILE),
        client_key: dir.join(CLIENT_KEY_FILE),
    };
    write_pem(&files.ca_cert, &certs.ca_cert_pem, 0o644)?;
    write_pem(&files.server_cert, &certs.server_cert_pem, 0o644)?;
    write_pem(&files.server_key, &certs.server_key_pem, 0o600)?;
    write_pem(&files.client_cert, &certs.client_cert_pem, 0o644)?;
    write_pem(&files.client_key, &certs.client_key_pem, 0o600)?;
    Ok(files)
}

fn write_pem(path: &Path, pem: &str, mode: u32) -> Result<()> {
    let err = |e| Error::io(format!("writing {}", path.display()), e);
    // `mode` only applies when the file is created; an existing file (a
    // restart into the same directory) gets its mode fixed before the key
    // bytes land in it.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    file.write_all(pem.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

/// Certificates for the redis crate's `Client::build_with_tls`: always the CA
/// as root, plus the client certificate and key when `mutual`.
pub fn client_certificates(mutual: bool) -> Result<redis::TlsCertificates> {
    let certs = certificates()?;
    let client_tls = mutual.then(|| redis::ClientTlsConfig {
        client_cert: certs.client_cert_pem.as_bytes().to_vec(),
        client_key: certs.client_key_pem.as_bytes().to_vec(),
    });
    Ok(redis::TlsCertificates {
        client_tls,
        root_cert: Some(certs.ca_cert_pem.as_bytes().to_vec()),
    })
}

/// Installs rustls' ring provider as the process default (the redis crate
/// needs one). Idempotent; a provider installed earlier by someone else is kept.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err only means a default is already installed, which is all we need.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// valkey-server options for TLS only, on `port`: the plaintext port is
/// disabled, and replication and the cluster bus use TLS too.
///
/// `tls-auth-clients` defaults to yes in Valkey, so plain TLS must say no.
/// Outgoing replication / cluster-bus connections present `tls-cert-file`
/// (Valkey's fallback when `tls-client-cert-file` is unset); the server
/// certificate carries clientAuth for that, so no client options are needed.
pub fn server_args(files: &TlsFiles, mutual: bool, port: u16) -> Vec<(String, String)> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    [
        ("port", "0".to_string()),
        ("tls-port", port.to_string()),
        ("tls-cert-file", path(&files.server_cert)),
        ("tls-key-file", path(&files.server_key)),
        ("tls-ca-cert-file", path(&files.ca_cert)),
        (
            "tls-auth-clients",
            if mutual { "yes" } else { "no" }.to_string(),
        ),
        ("tls-replication", "yes".to_string()),
        ("tls-cluster", "yes".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_args_disable_plaintext_and_set_auth() {
        let files = TlsFiles {
            ca_cert: "/d/ca.crt".into(),
            server_cert: "/d/server.crt".into(),
            server_key: "/d/server.key".into(),
            client_cert: "/d/client.crt".into(),
            client_key: "/d/client.key".into(),
        };
        let on = server_args(&files, false, 7000);
        assert!(on.contains(&("port".into(), "0".into())));
        assert!(on.contains(&("tls-port".into(), "7000".into())));
        assert!(on.contains(&("tls-auth-clients".into(), "no".into())));
        let mutual = server_args(&files, true, 7000);
        assert!(mutual.contains(&("tls-auth-clients".into(), "yes".into())));
    }

    #[test]
    fn certificates_are_generated_once() {
        let a = certificates().expect("generate");
        let b = certificates().expect("generate");
        assert!(std::ptr::eq(a, b));
        assert!(a.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(a.server_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(a.client_key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
