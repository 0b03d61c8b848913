//! Optional TLS (rustls with the ring provider, served by axum-server) from a PEM
//! certificate chain and private key (`--tls-cert`, `--tls-key`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;

/// Where the certificate and key are.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Loads and checks the certificate and key (call at start, so a bad file stops the start
/// with a clear message).
pub async fn load(config: &TlsConfig) -> std::io::Result<RustlsConfig> {
    // Several crates may enable rustls providers; pick ring explicitly (an error only means
    // one is already installed).
    let _ = rustls::crypto::ring::default_provider().install_default();
    for p in [&config.cert, &config.key] {
        if !p.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("TLS file {} does not exist", p.display()),
            ));
        }
    }
    RustlsConfig::from_pem_chain_file(&config.cert, &config.key).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("TLS certificate {} / key {}: {e}", config.cert.display(), config.key.display()),
        )
    })
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves (then drains connections
/// for up to 5 s).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    config: &TlsConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let rustls = load(config).await?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let std_listener = listener.into_std()?;
    axum_server::from_tcp_rustls(std_listener, rustls)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
}
