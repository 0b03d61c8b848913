//! Sensitive property values kept out of the flow file.
//!
//! The controller holds an optional [`SecretStore`]. When one is set, the value of every
//! property whose descriptor is `sensitive` is sealed (replaced by a reference, e.g.
//! `enc:v1:...`) as soon as it enters the live configuration (load, add, update), so the
//! configuration, `export()` and the saved flow file only ever hold references; the plain
//! value is revealed only where the processor needs it (context creation and validation).
//! The engine has no cryptography of its own: the store (the web layer's key-file store)
//! decides what a reference is.

use std::collections::BTreeMap;

use crate::processor::ProcessorDescriptor;

/// Why a value could not be sealed or revealed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(pub String);

/// Turns sensitive values into references and back.
pub trait SecretStore: Send + Sync {
    /// A reference standing for `plain` (what the flow file keeps).
    fn seal(&self, plain: &str) -> Result<String, SecretError>;
    /// The plain value a reference stands for.
    fn reveal(&self, reference: &str) -> Result<String, SecretError>;
    /// Whether `value` is a reference of this store (and so must not be sealed again).
    fn is_sealed(&self, value: &str) -> bool;
}

/// Seals, in place, every non-empty sensitive value that is not yet a reference. A value that
/// refers to a parameter (`#{name}`) is left as written: the secret lives in the parameter
/// (or the environment that overrides it), and the flow file stays portable between data dirs.
pub fn seal_sensitive(
    store: &dyn SecretStore,
    descriptor: &ProcessorDescriptor,
    properties: &mut BTreeMap<String, String>,
) -> Result<(), SecretError> {
    for (name, value) in properties.iter_mut() {
        if descriptor.find_property(name).is_some_and(|p| p.sensitive)
            && !value.is_empty()
            && !value.contains("#{")
            && !store.is_sealed(value)
        {
            *value = store.seal(value)?;
        }
    }
    Ok(())
}

/// The properties with every sealed sensitive value revealed.
pub fn reveal_sensitive(
    store: &dyn SecretStore,
    descriptor: &ProcessorDescriptor,
    properties: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SecretError> {
    let mut out = properties.clone();
    for (name, value) in out.iter_mut() {
        if descriptor.find_property(name).is_some_and(|p| p.sensitive) && store.is_sealed(value) {
            *value = store.reveal(value).map_err(|e| SecretError(format!("'{name}': {e}")))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::PropertyDescriptor;

    /// Seals by prefixing; enough to see what is sealed and what is not.
    struct Prefix;
    impl SecretStore for Prefix {
        fn seal(&self, plain: &str) -> Result<String, SecretError> {
            Ok(format!("sealed:{plain}"))
        }
        fn reveal(&self, reference: &str) -> Result<String, SecretError> {
            Ok(reference.trim_start_matches("sealed:").to_string())
        }
        fn is_sealed(&self, value: &str) -> bool {
            value.starts_with("sealed:")
        }
    }

    #[test]
    fn plain_secrets_are_sealed_parameter_references_are_not() {
        let d = ProcessorDescriptor::new("T", "test")
            .property(PropertyDescriptor::new("Password").sensitive())
            .property(PropertyDescriptor::new("Key").sensitive())
            .property(PropertyDescriptor::new("User"));
        let mut props: BTreeMap<String, String> = [("Password", "hunter2"), ("Key", "#{aws_key}"), ("User", "bob")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        seal_sensitive(&Prefix, &d, &mut props).unwrap();
        assert_eq!(props["Password"], "sealed:hunter2");
        assert_eq!(props["Key"], "#{aws_key}");
        assert_eq!(props["User"], "bob");
        seal_sensitive(&Prefix, &d, &mut props).unwrap();
        assert_eq!(props["Password"], "sealed:hunter2", "sealed twice");
    }
}
