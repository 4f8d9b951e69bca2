//! `komander:host/log`: guest log lines go to Komander's log with the plugin's id, at most
//! `LOG_LINES_PER_CALL` per call and `LOG_MESSAGE_BYTES` each, so log spam costs nothing.

use tracing::{debug, error, info, trace, warn};

use super::truncate;
use crate::{
    bindings::log::{Host, Level},
    host::HostState,
    sandbox::LOG_MESSAGE_BYTES,
};

impl Host for HostState {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        let call = &mut self.call;
        if call.check("log").is_err() {
            return Ok(());
        }
        if call.logs_left == 0 {
            call.logs_dropped = call.logs_dropped.saturating_add(1);
            return Ok(());
        }
        call.logs_left -= 1;
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
