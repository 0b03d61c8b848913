//! Sensitive property values: the key-file [`SecretStore`] the engine seals them with, and
//! the masking of the API (a sensitive value is always answered as `"********"`, and
//! `"********"` sent back means "unchanged").
//!
//! References are `enc:v1:<base64url(nonce ‖ ChaCha20-Poly1305 ciphertext)>`, under a 256-bit
//! key kept in `<data dir>/secrets.key` (created with mode 0600 on first use).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sluice_engine::ProcessorDescriptor;
use sluice_engine::flow::definition::FlowDefinition;
use sluice_engine::flow::view::ProcessorView;
use sluice_engine::secrets::{SecretError, SecretStore};

/// What the API shows instead of a sensitive value.
pub const MASK: &str = "********";

const PREFIX: &str = "enc:v1:";

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing it failed.
    #[error("secrets key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// It does not hold a key.
    #[error("secrets key file {0} is not a base64 256-bit key")]
    Malformed(PathBuf),
    /// No randomness.
    #[error("no randomness for a key: {0}")]
    Random(String),
}

/// Seals values with ChaCha20-Poly1305 under a key from a file.
pub struct KeyFileSecretStore {
    cipher: ChaCha20Poly1305,
}

impl KeyFileSecretStore {
    /// Opens `<dir>/secrets.key`, creating it (mode 0600) with a random key when absent.
    pub fn open(dir: &Path) -> Result<Self, KeyFileError> {
        let path = dir.join("secrets.key");
        let io = |source| KeyFileError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| KeyFileError::Malformed(path.clone()))?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyFileError::Malformed(path.clone()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_key()?;
                let mut f = create_private(&path).map_err(io)?;
                f.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(key)).as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        Ok(Self::with_key(key))
    }

    /// A store with a random key that lives only in memory (tests, memory-only runs).
    pub fn ephemeral() -> Result<Self, KeyFileError> {
        Ok(Self::with_key(random_key()?))
    }

    fn with_key(key: [u8; 32]) -> Self {
        KeyFileSecretStore { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }
}

fn random_key() -> Result<[u8; 32], KeyFileError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(key)
}

/// Creates a file readable and writable by its owner only.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl SecretStore for KeyFileSecretStore {
    fn seal(&self, plain: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SecretError(format!("no randomness: {e}")))?;
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .map_err(|_| SecretError("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    fn reveal(&self, reference: &str) -> Result<String, SecretError> {
        let undecryptable = || {
            SecretError("the sensitive value cannot be decrypted with this data dir's secrets.key; set it again".into())
        };
        let blob =
            reference.strip_prefix(PREFIX).and_then(|b| URL_SAFE_NO_PAD.decode(b).ok()).ok_or_else(undecryptable)?;
        if blob.len() < 12 + 16 {
            return Err(undecryptable());
        }
        let plain = self.cipher.decrypt(Nonce::from_slice(&blob[..12]), &blob[12..]).map_err(|_| undecryptable())?;
        String::from_utf8(plain).map_err(|_| undecryptable())
    }

    fn is_sealed(&self, value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

fn is_sensitive(d: &ProcessorDescriptor, name: &str) -> bool {
    d.find_property(name).is_some_and(|p| p.sensitive)
}

/// Masks the sensitive values of a processor view, and hides them in its validation errors.
pub fn mask_processor(d: &ProcessorDescriptor, store: Option<&Arc<dyn SecretStore>>, view: &mut ProcessorView) {
    mask_properties(d, store, &mut view.properties, &mut view.validation_errors);
}

/// Masks the sensitive values among `properties` of a component of type `d` (a processor
/// or a controller service), and hides them in its `errors`.
pub fn mask_properties(
    d: &ProcessorDescriptor,
    store: Option<&Arc<dyn SecretStore>>,
    properties: &mut BTreeMap<String, String>,
    errors: &mut [String],
) {
    let hidden = plain_sensitive_values(d, store, properties);
    for (name, _) in &hidden {
        properties.insert(name.clone(), MASK.to_string());
    }
    if !hidden.is_empty() {
        for e in errors.iter_mut() {
            *e = scrub(e, &hidden);
        }
    }
}

/// The non-empty sensitive values among `properties`, revealed: what must never appear in
/// an answer (for masking and for scrubbing messages).
pub fn plain_sensitive_values(
    d: &ProcessorDescriptor,
    store: Option<&Arc<dyn SecretStore>>,
    properties: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    properties
        .iter()
        .filter(|(name, value)| is_sensitive(d, name) && !value.is_empty())
        .map(|(name, value)| {
            let plain = match store {
                Some(s) if s.is_sealed(value) => s.reveal(value).unwrap_or_default(),
                _ => value.clone(),
            };
            (name.clone(), plain)
        })
        .collect()
}

/// A validation error with sensitive values hidden: an error about a sensitive property
/// (they start with `'Name'`) loses its text, and any value of 3 characters or more is
/// replaced wherever it appears.
pub fn scrub(error: &str, hidden: &[(String, String)]) -> String {
    for (name, _) in hidden {
        if error.starts_with(&format!("'{name}'")) {
            return format!("'{name}' is invalid (the value is sensitive and not shown)");
        }
    }
    let mut out = error.to_string();
    for (_, plain) in hidden {
        if plain.chars().count() >= 3 {
            out = out.replace(plain.as_str(), MASK);
        }
    }
    out
}

/// Drops `"********"` for sensitive properties from a change (it means "unchanged").
pub fn drop_masked_patch(d: &ProcessorDescriptor, props: &mut BTreeMap<String, Option<String>>) {
    props.retain(|name, v| !(is_sensitive(d, name) && v.as_deref() == Some(MASK)));
}

/// Drops `"********"` for sensitive properties from a new processor (there is no value to keep).
pub fn drop_masked_new(d: &ProcessorDescriptor, props: &mut BTreeMap<String, String>) {
    props.retain(|name, v| !(is_sensitive(d, name) && v == MASK));
}

/// In a whole flow sent back, replaces `"********"` of a sensitive property with the value
/// the same processor has now; refused when there is none.
pub fn restore_masked_flow(
    def: &mut FlowDefinition,
    current: &FlowDefinition,
    registry: &sluice_engine::Registry,
) -> Result<(), String> {
    for (i, p) in def.processors.iter_mut().enumerate() {
        let Some(t) = registry.get(&p.type_name) else {
            continue;
        };
        for (name, value) in p.properties.iter_mut() {
            if value == MASK && is_sensitive(&t.descriptor, name) {
                let kept = current
                    .processors
                    .iter()
                    .find(|c| c.id == p.id && c.type_name == p.type_name)
                    .and_then(|c| c.properties.get(name))
                    .filter(|v| v.as_str() != MASK);
                match kept {
                    Some(v) => *value = v.clone(),
                    None => {
                        return Err(format!(
                            "processors[{i}].properties.{name}: \"{MASK}\" stands for the current value, and there is none"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Masks sensitive values that are not sealed in an exported definition (a fallback: with a
/// store set, the engine keeps only references).
pub fn mask_unsealed_flow(
    def: &mut FlowDefinition,
    registry: &sluice_engine::Registry,
    store: Option<&Arc<dyn SecretStore>>,
) {
    for p in def.processors.iter_mut() {
        let Some(t) = registry.get(&p.type_name) else {
            continue;
        };
        for (name, value) in p.properties.iter_mut() {
            if is_sensitive(&t.descriptor, name) && !value.is_empty() && !store.is_some_and(|s| s.is_sealed(value)) {
                *value = MASK.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_reveal_roundtrip_and_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeyFileSecretStore::open(dir.path()).unwrap();
        let r = s.seal("hunter2").unwrap();
        assert!(r.starts_with(PREFIX) && !r.contains("hunter2"));
        assert_eq!(s.reveal(&r).unwrap(), "hunter2");
        let again = KeyFileSecretStore::open(dir.path()).unwrap();
        assert_eq!(again.reveal(&r).unwrap(), "hunter2");
        let other = KeyFileSecretStore::ephemeral().unwrap();
        assert!(other.reveal(&r).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn scrub_hides_values() {
        let hidden = vec![("Password".to_string(), "s3cret".to_string())];
        assert_eq!(
            scrub("'Password': 's3cret' is not a whole number", &hidden),
            "'Password' is invalid (the value is sensitive and not shown)"
        );
        assert_eq!(scrub("login failed for s3cret", &hidden), "login failed for ********");
    }
}
