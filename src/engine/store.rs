//! The state file and its in-memory copy, as the engine's walks change it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::error::Result;
use crate::state::{Ids, Record, State, StateFile, Status, now};

/// The state file and its in-memory copy; every change is flushed at once.
pub struct Store {
    file: StateFile,
    state: Mutex<State>,
}

impl Store {
    pub fn new(file: StateFile, state: State) -> Self {
        Store {
            file,
            state: Mutex::new(state),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut state);
        self.file.save(&state)?;
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<Record> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resources
            .get(id)
            .cloned()
    }

    /// A copy of the state as it is now.
    pub fn snapshot(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn flush(&self) -> Result<()> {
        self.with(|_| ())
    }

    pub(super) fn put(
        &self,
        id: &str,
        kind: &str,
        owned: bool,
        status: Status,
        ids: &Ids,
    ) -> Result<()> {
        let unchanged = self.get(id).is_some_and(|r| {
            r.status == status && &r.ids == ids && r.owned == owned && r.kind == kind
        });
        if unchanged {
            return Ok(());
        }
        self.with(|s| {
            s.resources.insert(
                id.to_owned(),
                Record {
                    kind: kind.to_owned(),
                    owned,
                    status,
                    ids: ids.clone(),
                    updated_at: now(),
                },
            );
        })
    }

    pub(super) fn remove(&self, id: &str) -> Result<()> {
        if self.get(id).is_none() {
            return Ok(());
        }
        self.with(|s| {
            s.resources.remove(id);
        })
    }

    pub fn set_settings(&self, settings: BTreeMap<String, String>) -> Result<()> {
        self.with(|s| s.settings = settings)
    }

    pub fn set_tool_surface(&self, surface: BTreeMap<String, Vec<String>>) -> Result<()> {
        self.with(|s| s.tool_surface = surface)
    }

    pub fn remove_file(&self) -> Result<()> {
        self.file.remove()
    }
}
