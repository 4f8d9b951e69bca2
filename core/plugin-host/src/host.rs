//! What a store holds for one call: an empty WASI context (no files, environment, sockets or
//! arguments; stdout and stderr captured), the memory cap, and the call's capability context.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder, component::ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView, p2::pipe::MemoryOutputPipe};

use crate::{
    capabilities::CallContext,
    sandbox::{CAPTURED_OUTPUT_BYTES, TABLE_ELEMENTS},
};

/// The data of one call's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// The capabilities this call may use.
    pub(crate) call: CallContext,
}

impl HostState {
    /// A fresh state for one call, with `memory_bytes` of linear memory at most.
    pub(crate) fn new(memory_bytes: usize, call: CallContext) -> HostState {
        let stdout = MemoryOutputPipe::new(CAPTURED_OUTPUT_BYTES);
        let stderr = MemoryOutputPipe::new(CAPTURED_OUTPUT_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                limits: StoreLimitsBuilder::new()
                    .memory_size(memory_bytes)
                    .table_elements(TABLE_ELEMENTS)
                    .trap_on_grow_failure(true)
                    .build(),
                limit_bytes: memory_bytes,
                exceeded: false,
            },
            stdout,
            stderr,
            call,
        }
    }

    /// The resource limiter for `Store::limiter`.
    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// Whether the guest asked for more memory than allowed.
    pub(crate) fn memory_exceeded(&self) -> Option<usize> {
        self.memory.exceeded.then_some(self.memory.limit_bytes)
    }

    /// What the guest wrote to stdout and stderr (at most the captured size each); `None`
    /// when it wrote nothing, the usual case, which then costs no copy.
    pub(crate) fn output(&self) -> Option<(bytes::Bytes, bytes::Bytes)> {
        let (stdout, stderr) = (self.stdout.contents(), self.stderr.contents());
        (!stdout.is_empty() || !stderr.is_empty()).then_some((stdout, stderr))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `StoreLimits` with `trap_on_grow_failure`, remembering that the cap was hit so the failure
/// is reported as out-of-memory rather than as a crash.
struct MemoryCap {
    limits: StoreLimits,
    limit_bytes: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let answer = self.limits.memory_growing(current, desired, maximum);
        if answer.is_err() || desired > self.limit_bytes {
            self.exceeded = true;
        }
        answer
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.exceeded = true;
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
