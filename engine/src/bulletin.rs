//! Bulletins: recent warnings and errors per component, newest first, bounded.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

/// Severity of a bulletin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// Something to know.
    Info,
    /// Something that may need attention.
    Warning,
    /// Something failed.
    Error,
}

/// One bulletin.
#[derive(Clone, Debug, Serialize)]
pub struct Bulletin {
    /// Increasing id.
    pub id: u64,
    /// When (ms since epoch).
    pub timestamp_millis: i64,
    /// Severity.
    pub level: Level,
    /// The component it is about (empty for the engine itself).
    pub component_id: String,
    /// Its name at the time.
    pub component_name: String,
    /// What happened.
    pub message: String,
}

type Listener = Arc<dyn Fn(&Bulletin) + Send + Sync>;

/// A bounded board of bulletins with listeners (the web layer pushes them to clients).
pub struct BulletinBoard {
    capacity: usize,
    next_id: AtomicU64,
    items: Mutex<VecDeque<Bulletin>>,
    listeners: RwLock<Vec<Listener>>,
}

impl BulletinBoard {
    /// A board keeping at most `capacity` bulletins.
    pub fn new(capacity: usize) -> Self {
        BulletinBoard {
            capacity,
            next_id: AtomicU64::new(1),
            items: Mutex::new(VecDeque::new()),
            listeners: RwLock::new(Vec::new()),
        }
    }

    /// Posts a bulletin (also logged through `tracing`).
    pub fn post(&self, level: Level, component_id: &str, component_name: &str, message: impl Into<String>) {
        let message = message.into();
        match level {
            Level::Error => tracing::error!(component = component_id, name = component_name, "{message}"),
            Level::Warning => tracing::warn!(component = component_id, name = component_name, "{message}"),
            Level::Info => tracing::info!(component = component_id, name = component_name, "{message}"),
        }
        let b = Bulletin {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            timestamp_millis: crate::flowfile::now_millis(),
            level,
            component_id: component_id.to_string(),
            component_name: component_name.to_string(),
            message,
        };
        {
            let mut items = self.items.lock();
            if items.len() == self.capacity {
                items.pop_back();
            }
            items.push_front(b.clone());
        }
        for l in self.listeners.read().iter() {
            l(&b);
        }
    }

    /// Newest first, optionally for one component, at most `limit`.
    pub fn recent(&self, component: Option<&str>, limit: usize) -> Vec<Bulletin> {
        self.items
            .lock()
            .iter()
            .filter(|b| component.is_none_or(|c| b.component_id == c))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Count of bulletins per component among those kept.
    pub fn count_for(&self, component: &str) -> usize {
        self.items.lock().iter().filter(|b| b.component_id == component).count()
    }

    /// Calls `f` for every new bulletin.
    pub fn subscribe(&self, f: impl Fn(&Bulletin) + Send + Sync + 'static) {
        self.listeners.write().push(Arc::new(f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_newest_first() {
        let b = BulletinBoard::new(3);
        for i in 0..5 {
            b.post(Level::Warning, "p1", "P", format!("m{i}"));
        }
        let r = b.recent(None, 10);
        assert_eq!(r.iter().map(|x| x.message.as_str()).collect::<Vec<_>>(), ["m4", "m3", "m2"]);
        assert_eq!(b.recent(Some("other"), 10).len(), 0);
    }
}
