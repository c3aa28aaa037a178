//! TLS for missive's clients (the SMTP relay, the IMAP bounce mailbox, the
//! pages `add` fetches): rustls with the ring provider, the usual web roots,
//! and an extra root certificate where the config names one.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

/// A rustls client config trusting the usual web roots and, given as its
/// path and PEM bytes, the extra root certificate named by `field` (such
/// as `smtp.ca_file`) in errors.
pub(crate) fn client_config(
    ca: Option<(&Path, &[u8])>,
    field: &str,
) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some((path, pem)) = ca {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert
                .map_err(|e| anyhow!("{field}: {}: not a PEM certificate: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow!("{field}: {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            bail!("{field}: {}: holds no PEM certificate", path.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
