//! The sandbox every plugin call runs in: limits are named constants whose docs state the threat.

use std::time::Duration;

use crate::manifest::PluginKind;

/// How often the engine's epoch advances. A guest is interrupted at most one tick after its CPU
/// budget runs out, so an infinite loop costs at most its budget plus 10 ms.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Linear memory a git provider may use. A memory bomb traps when it asks for more.
pub const PROVIDER_MEMORY_BYTES: usize = 64 << 20;

/// Linear memory a runtime may use (runtimes hold whole deployment specs).
pub const RUNTIME_MEMORY_BYTES: usize = 128 << 20;

/// Guest time a provider call may use before it is interrupted.
pub const PROVIDER_CPU_BUDGET: Duration = Duration::from_secs(2);

/// Guest time a runtime call (one `apply-step`) may use before it is interrupted.
pub const RUNTIME_CPU_BUDGET: Duration = Duration::from_secs(10);

/// Wall-clock time any call may take, host calls included: a guest waiting on a slow capability
/// is cut off here.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of stdout and stderr a guest may write per call; the rest is dropped, so log spam
/// cannot fill the server's memory or disks.
pub const CAPTURED_OUTPUT_BYTES: usize = 64 << 10;

/// Log lines a guest may emit through the `log` capability per call; the rest are counted and
/// dropped.
pub const LOG_LINES_PER_CALL: u32 = 1_000;

/// Bytes of one log message; longer ones are cut.
pub const LOG_MESSAGE_BYTES: usize = 4 << 10;

/// Table elements a guest may grow to (function references, resources).
pub const TABLE_ELEMENTS: usize = 100_000;

/// The limits one call runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Guest time before interruption.
    pub cpu_budget: Duration,
    /// Wall-clock time for the whole call.
    pub timeout: Duration,
}

impl Limits {
    /// The defaults for a kind of plugin.
    pub fn for_kind(kind: PluginKind) -> Limits {
        match kind {
            PluginKind::GitProvider => Limits {
                memory_bytes: PROVIDER_MEMORY_BYTES,
                cpu_budget: PROVIDER_CPU_BUDGET,
                timeout: CALL_TIMEOUT,
            },
            PluginKind::Runtime(_) => Limits {
                memory_bytes: RUNTIME_MEMORY_BYTES,
                cpu_budget: RUNTIME_CPU_BUDGET,
                timeout: CALL_TIMEOUT,
            },
        }
    }

    /// The CPU budget in epoch ticks (at least one).
    pub fn cpu_ticks(&self) -> u64 {
        (self.cpu_budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}
