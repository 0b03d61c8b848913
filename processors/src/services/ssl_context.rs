//! StandardSSLContextService: the certificates a TLS client trusts and presents, configured
//! once and shared by processors (InvokeHTTP's 'SSL Context Service').
//!
//! NiFi reads Java keystores (JKS, PKCS12); Sluice reads PEM files, what every other TLS
//! tool writes: a bundle of trusted CA certificates, and a client certificate chain with its
//! private key for mutual TLS.

use std::sync::Arc;

use sluice_engine::service::ServiceInstance;
use sluice_engine::{InputRequirement, ProcessContext, ProcessorDescriptor, PropertyDescriptor, Registry, Validator};

/// The API the service provides.
pub const API: &str = "SSLContextService";
const TRUSTED: &str = "Trusted CA Certificates";
const SYSTEM: &str = "Use System Trust Store";
const CLIENT_CERT: &str = "Client Certificate";
const CLIENT_KEY: &str = "Client Key";
const KEY_PASSWORD: &str = "Client Key Password";

/// What a TLS client built from the service uses.
pub struct TlsContext {
    /// Extra trusted CA certificates.
    pub roots: Vec<reqwest::Certificate>,
    /// Whether the system's trusted roots are trusted too.
    pub system_roots: bool,
    /// The client certificate and key, for servers that ask for one.
    pub identity: Option<reqwest::Identity>,
}

impl TlsContext {
    /// Applies the context to an HTTP client being built.
    pub fn apply(&self, mut b: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        b = b.tls_built_in_root_certs(self.system_roots);
        for c in &self.roots {
            b = b.add_root_certificate(c.clone());
        }
        if let Some(id) = &self.identity {
            b = b.identity(id.clone());
        }
        b
    }
}

/// Registers the service type.
pub fn register(r: &mut Registry) {
    r.register_service(descriptor(), API, create);
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "StandardSSLContextService",
        "The certificates a TLS client trusts (a PEM bundle of CA certificates, with or without the system's) and the \
         client certificate and key it presents to servers that ask for one (mutual TLS), shared by processors through \
         their 'SSL Context Service' property. PEM files, where NiFi uses Java keystores.",
    )
    .tags(&["ssl", "tls", "certificate", "truststore", "keystore", "mtls", "https"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(TRUSTED).description(
            "Path of a PEM file with the CA certificates to trust (for a private CA or a self-signed server)",
        ),
    )
    .property(
        PropertyDescriptor::new(SYSTEM)
            .description("Whether the system's trusted root certificates are trusted too")
            .required()
            .default_value("true")
            .allowable(&[("true", "trust the system's roots and the CA file"), ("false", "trust only the CA file")]),
    )
    .property(
        PropertyDescriptor::new(CLIENT_CERT)
            .description("Path of a PEM file with the client certificate (and its chain) presented for mutual TLS"),
    )
    .property(
        PropertyDescriptor::new(CLIENT_KEY).description(
            "Path of the PEM file with the client certificate's private key (PKCS#8, RSA or EC; unencrypted)",
        ),
    )
    .property(
        PropertyDescriptor::new(KEY_PASSWORD)
            .description("Not supported: an encrypted key is refused with a clear error; decrypt it with openssl first")
            .sensitive()
            .validator(Validator::Any),
    )
}

fn read(ctx: &ProcessContext, name: &str) -> Result<Option<Vec<u8>>, String> {
    match ctx.property(name).map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(path) => std::fs::read(path).map(Some).map_err(|e| format!("'{name}': cannot read {path}: {e}")),
    }
}

fn create(ctx: &ProcessContext) -> Result<ServiceInstance, String> {
    if ctx.property(KEY_PASSWORD).is_some_and(|p| !p.is_empty()) {
        return Err(format!("'{KEY_PASSWORD}': encrypted keys are not supported; give an unencrypted PEM key"));
    }
    let roots = match read(ctx, TRUSTED)? {
        None => Vec::new(),
        Some(pem) => {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("'{TRUSTED}': not a PEM certificate bundle: {e}"))?;
            if certs.is_empty() {
                return Err(format!("'{TRUSTED}': the file holds no PEM certificate"));
            }
            certs
        }
    };
    let system_roots = ctx.property(SYSTEM) != Some("false");
    let identity = match (read(ctx, CLIENT_CERT)?, read(ctx, CLIENT_KEY)?) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(format!("'{CLIENT_CERT}' and '{CLIENT_KEY}' go together: set both or neither"));
        }
        (Some(mut cert), Some(key)) => {
            if String::from_utf8_lossy(&key).contains("ENCRYPTED") {
                return Err(format!("'{CLIENT_KEY}': the key is encrypted; give an unencrypted PEM key"));
            }
            cert.push(b'\n');
            cert.extend_from_slice(&key);
            Some(
                reqwest::Identity::from_pem(&cert)
                    .map_err(|e| format!("'{CLIENT_CERT}'/'{CLIENT_KEY}': not a PEM certificate and key: {e}"))?,
            )
        }
    };
    if roots.is_empty() && !system_roots {
        return Err(format!("nothing to trust: set '{TRUSTED}' or '{SYSTEM}' to true"));
    }
    Ok(Arc::new(TlsContext { roots, system_roots, identity }))
}
