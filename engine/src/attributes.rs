//! Flowfile attributes: a small, shared, copy-on-write list of string pairs.
//!
//! Flowfiles carry few attributes (typically under twenty), are cloned often (fan-out,
//! provenance) and changed rarely, so a linear-scanned vector behind an `Arc` beats a
//! `HashMap` both in memory and in time: cloning is one reference-count increment and a
//! change copies the vector only when it is shared.

use std::fmt;
use std::sync::Arc;

use sluice_provenance::AttrMap;
pub use sluice_provenance::AttrStr;

/// The standard attribute that holds a flowfile's UUID.
pub const UUID: &str = "uuid";
/// The standard attribute that holds a flowfile's file name.
pub const FILENAME: &str = "filename";
/// The standard attribute that holds a flowfile's path.
pub const PATH: &str = "path";
/// The standard attribute that holds a flowfile's MIME type, where known.
pub const MIME_TYPE: &str = "mime.type";

/// Attributes of a flowfile: name → value, insertion ordered, shared copy-on-write.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attributes(AttrMap);

impl Attributes {
    /// An empty attribute set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds attributes from name/value pairs; later duplicates win.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut a = Self::new();
        for (k, v) in pairs {
            a.insert(k.as_ref(), v.as_ref());
        }
        a
    }

    /// Wraps the shared storage used by provenance events (no copy).
    pub fn from_shared(map: AttrMap) -> Self {
        Self(map)
    }

    /// The shared storage, for provenance events (no copy).
    pub fn shared(&self) -> &AttrMap {
        &self.0
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, copying the list first only if it is shared.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.insert_arc(AttrStr::new(name), AttrStr::new(value));
    }

    /// Sets an attribute from ready-made strings (avoids converting the same name or value
    /// again for every flowfile).
    pub fn insert_arc(&mut self, name: AttrStr, value: AttrStr) {
        if let Some(slot) = self.0.iter().position(|(k, _)| *k == name) {
            if self.0[slot].1 == value {
                return;
            }
            Arc::make_mut(&mut self.0)[slot].1 = value;
        } else if let Some(v) = Arc::get_mut(&mut self.0) {
            v.push((name, value));
        } else {
            // Shared: copy once with room for a few more, rather than clone-then-grow.
            let mut v = Vec::with_capacity(self.0.len() + 4);
            v.extend(self.0.iter().cloned());
            v.push((name, value));
            self.0 = Arc::new(v);
        }
    }

    /// Removes `name`; returns its old value.
    pub fn remove(&mut self, name: &str) -> Option<AttrStr> {
        let slot = self.0.iter().position(|(k, _)| &**k == name)?;
        Some(Arc::make_mut(&mut self.0).remove(slot).1)
    }

    /// Removes every attribute whose name matches `pred`; returns how many.
    pub fn remove_where(&mut self, mut pred: impl FnMut(&str) -> bool) -> usize {
        if !self.0.iter().any(|(k, _)| pred(k)) {
            return 0;
        }
        let v = Arc::make_mut(&mut self.0);
        let before = v.len();
        v.retain(|(k, _)| !pred(k));
        before - v.len()
    }

    /// Iterates over (name, value) pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether both share the same storage (unchanged since one was cloned from the other).
    pub fn ptr_eq(&self, other: &Attributes) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A sorted map copy, for JSON output.
    pub fn to_btree(&self) -> std::collections::BTreeMap<String, String> {
        self.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl sluice_expression::AttributeSource for Attributes {
    fn get(&self, name: &str) -> Option<&str> {
        Attributes::get(self, name)
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.iter() {
            f(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_on_write_keeps_clones_apart() {
        let mut a = Attributes::from_pairs([("x", "1")]);
        let b = a.clone();
        assert!(a.ptr_eq(&b));
        a.insert("x", "2");
        assert!(!a.ptr_eq(&b));
        assert_eq!(a.get("x"), Some("2"));
        assert_eq!(b.get("x"), Some("1"));
    }

    #[test]
    fn setting_the_same_value_does_not_copy() {
        let mut a = Attributes::from_pairs([("x", "1")]);
        let b = a.clone();
        a.insert("x", "1");
        assert!(a.ptr_eq(&b));
    }

    #[test]
    fn remove_where_removes_matching_only() {
        let mut a = Attributes::from_pairs([("a.1", "1"), ("b", "2"), ("a.2", "3")]);
        assert_eq!(a.remove_where(|k| k.starts_with("a.")), 2);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![("b", "2")]);
        assert_eq!(a.remove("b").as_deref(), Some("2"));
        assert!(a.is_empty());
    }
}
