//! `komander:host/log`: guest log lines go to Komander's log with the plugin's id, at most
//! `LOG_LINES_PER_CALL` per call and `LOG_MESSAGE_BYTES` each, so log spam costs nothing.

use tracing::{debug, error, info, trace, warn};

use super::{call::HostCapability, truncate};
use crate::{
    bindings::log::{Host, Level},
    host::HostState,
    sandbox::{LOG_LINES_PER_CALL, LOG_MESSAGE_BYTES},
};

/// The `log` capability: a call holds its budget of lines.
pub(crate) struct LogCapability;

impl HostCapability for LogCapability {
    type Grant = ();
    type State = LogBudget;

    fn prepare((): ()) -> LogBudget {
        LogBudget {
            left: LOG_LINES_PER_CALL,
            dropped: 0,
        }
    }
}

/// How many more lines a call may log, and how many it lost over the limit.
pub(crate) struct LogBudget {
    left: u32,
    dropped: u32,
}

impl LogBudget {
    /// How many lines were dropped for going over the limit.
    pub(crate) fn dropped(&self) -> u32 {
        self.dropped
    }
}

impl Host for HostState {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        let call = &mut self.call;
        let Some(budget) = call.log.as_mut() else {
            return Ok(());
        };
        if budget.left == 0 {
            budget.dropped = budget.dropped.saturating_add(1);
            return Ok(());
        }
        budget.left -= 1;
        truncate(&mut message, LOG_MESSAGE_BYTES);
        let plugin = call.plugin.as_str();
        match level {
            Level::Trace => trace!(plugin, "{message}"),
            Level::Debug => debug!(plugin, "{message}"),
            Level::Info => info!(plugin, "{message}"),
            Level::Warn => warn!(plugin, "{message}"),
            Level::Error => error!(plugin, "{message}"),
        }
        Ok(())
    }
}
