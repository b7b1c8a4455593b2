//! The run's cancellation signal: SIGINT or SIGTERM asks a run to stop after the calls in flight.
//!
//! Its own module below both the engine (which starts no new node once it is set) and the resources (whose waits
//! and retries end early with [`Error::Interrupted`]), so that neither has to import the other for it.

use std::time::Duration;

use tokio::sync::watch;

use crate::error::{Error, Result};

/// Signals a run to stop after the calls in flight.
#[derive(Clone)]
pub struct Cancel {
    rx: watch::Receiver<Option<&'static str>>,
}

pub struct CancelHandle {
    tx: watch::Sender<Option<&'static str>>,
}

impl CancelHandle {
    pub fn cancel(&self, signal: &'static str) {
        let _ = self.tx.send(Some(signal));
    }
}

impl Cancel {
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(None);
        (CancelHandle { tx }, Cancel { rx })
    }

    /// The name of the signal that arrived (`"SIGINT"`, `"SIGTERM"`), if one did.
    pub fn signal(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    pub fn check(&self) -> Result<()> {
        match self.signal() {
            Some(signal) => Err(Error::Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Sleeps, or returns `Interrupted` as soon as a signal arrives.
    pub async fn sleep(&self, d: Duration) -> Result<()> {
        self.check()?;
        let mut rx = self.rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = rx.changed() => self.check(),
        }
    }
}
