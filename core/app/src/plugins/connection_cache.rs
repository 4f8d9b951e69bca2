//! The connections each install's calls share, built once from the store and kept until they
//! change. A change forgets them; a build that read the store before that forget cannot put
//! its stale result back, because every load carries the generation it started in.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use komander_plugin_host::capabilities::Connection;

/// One install's connections, as its calls get them.
pub(crate) type Connections = Vec<Arc<Connection>>;

/// The connections of each install, by plugin id (see `App::plugin_call_connections`).
///
/// A reader that misses calls [`ConnectionCache::get`], which answers a [`Ticket`]; it reads
/// the store, builds, and offers the result with [`ConnectionCache::insert`], which keeps it
/// only when no [`ConnectionCache::forget`] happened since the ticket was issued. A writer
/// changes the store first, then forgets: whatever a reader loaded before the change dies
/// with its ticket.
#[derive(Default)]
pub(crate) struct ConnectionCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by every forget.
    generation: u64,
    entries: HashMap<String, Connections>,
}

/// The right to cache what was loaded from the store after it was issued.
#[derive(Debug)]
#[must_use = "a ticket is for offering what was loaded to ConnectionCache::insert"]
pub(crate) struct Ticket(u64);

impl ConnectionCache {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every change is one statement.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached connections of `plugin`, or a ticket to load and offer them.
    pub(crate) fn get(&self, plugin: &str) -> Result<Connections, Ticket> {
        let state = self.state();
        match state.entries.get(plugin) {
            Some(cached) => Ok(cached.clone()),
            None => Err(Ticket(state.generation)),
        }
    }

    /// Caches `connections` for `plugin` unless something was forgotten since `ticket` was
    /// issued (then what was loaded may predate a change). Answers whether it was kept.
    pub(crate) fn insert(&self, plugin: &str, ticket: Ticket, connections: Connections) -> bool {
        let mut state = self.state();
        if state.generation != ticket.0 {
            return false;
        }
        state.entries.insert(plugin.to_owned(), connections);
        true
    }

    /// Drops the connections of `plugin` and voids every ticket issued so far; call it after
    /// the store changed.
    pub(crate) fn forget(&self, plugin: &str) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.remove(plugin);
    }
}

#[cfg(test)]
mod tests {
    use komander_plugin_host::capabilities::ConnectionGrant;
    use reqwest::Url;

    use super::*;

    fn connections(base_url: &str) -> Connections {
        let grant = ConnectionGrant {
            allow_private: false,
            path_prefixes: Vec::new(),
            requests_per_minute: None,
        };
        let url = Url::parse(base_url).unwrap();
        vec![Arc::new(Connection::new("api", url, None, grant))]
    }

    /// Regression: a reader that loaded the old connections before a change put them
    /// back after the change had forgotten them, so calls kept the old base URL and credential.
    #[test]
    fn a_load_from_before_a_forget_is_not_cached() {
        let cache = ConnectionCache::default();
        // A reader misses and loads the old row; meanwhile the row changes and is forgotten.
        let Err(stale) = cache.get("p") else {
            panic!("nothing is cached yet");
        };
        let old = connections("https://old.example.com");
        cache.forget("p");
        assert!(!cache.insert("p", stale, old), "the stale load is refused");
        let Err(fresh) = cache.get("p") else {
            panic!("the forgotten entry stays forgotten");
        };
        // The next reader loads the new row and keeps it.
        assert!(cache.insert("p", fresh, connections("https://new.example.com")));
        assert!(cache.get("p").is_ok_and(|c| c.len() == 1));
        // A forget of another install voids tickets too (harmless: that load just is not kept).
        let Err(ticket) = cache.get("q") else {
            panic!("q is not cached");
        };
        cache.forget("p");
        assert!(!cache.insert("q", ticket, connections("https://q.example.com")));
        assert!(cache.get("p").is_err());
    }
}
