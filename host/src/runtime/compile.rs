//! Compiling components: the engine's settings (pooling allocator, epochs) and turning a
//! `.wasm` (a core module is componentized with the WASI preview 1 reactor adapter, as Spin does)
//! into a compiled component, cached under a name derived from the bytes and the engine.

use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Limits;

/// Bytes of a reused linear-memory slot kept resident (reset in place, not decommitted) where the
/// kernel has `PAGEMAP_SCAN` (Linux 6.7+): only the pages instances in the slot have written are
/// reset (a written page stays private to the slot, so it is found and reset on every reuse, not
/// only after the instance that wrote it), so this can be generous.
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES: usize = 16 << 20;
/// The same without `PAGEMAP_SCAN`, where the first this-many bytes are `memset` on every reuse
/// (and the rest given back with `madvise`).
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES_WITHOUT_PAGEMAP: usize = 2 << 20;
/// Bytes of a reused table slot kept resident.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// Bytes of a reused async stack kept resident.
const ASYNC_STACK_KEEP_RESIDENT_BYTES: usize = 128 << 10;

/// Builds the engine with the pooling allocator sized for `limits` and `components` (each may
/// hold one instance made ahead of its next request).
pub fn engine(limits: &Limits, components: usize) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Chained requests bypass the admission bound, hence twice the bound.
    let slots = (limits.instances_max * 2 + 16 + components) as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots);
    pool.total_core_instances(slots * 8);
    pool.total_memories(slots * 4);
    pool.total_tables(slots * 8);
    pool.total_stacks(slots);
    pool.max_memory_size(limits.memory_bytes_max);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    pool.max_core_instances_per_component(32);
    pool.max_component_instance_size(1 << 20);
    // Reusing a slot resets what stays resident in place instead of madvise + page faults on the
    // next use.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(wasmtime::Enabled::Yes);
        pool.linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES);
    } else {
        tracing::warn!(
            "this kernel has no PAGEMAP_SCAN (Linux 6.7+): reused instance memory is reset by \
             memset, which makes every request slower"
        );
        pool.linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES_WITHOUT_PAGEMAP);
    }
    pool.table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
    pool.async_stack_keep_resident(ASYNC_STACK_KEEP_RESIDENT_BYTES);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e:#}"))
}

/// Reads a `.wasm`, componentizes a core module, and compiles it (or loads the cached artefact).
pub(super) fn load_component(
    engine: &Engine,
    source: &Path,
    cache_dir: &Path,
) -> Result<Component> {
    let bytes = std::fs::read(source).with_context(|| {
        format!(
            "cannot read {}; build the components first (scripts/build-wasm.sh)",
            source.display()
        )
    })?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = hex::encode(Sha256::digest(&bytes));
    let cached = cache_dir.join(format!(
        "{}-{:016x}.cwasm",
        &digest[..32],
        engine_hash.finish()
    ));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (part of its name), in a folder only this host writes.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e:#}", cached.display()),
        }
    }
    let component_bytes = if is_core_module(&bytes) {
        wit_component::ComponentEncoder::default()
            .module(&bytes)
            .context("not a valid core module")?
            .adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?
            .validate(true)
            .encode()
            .context("cannot turn the core module into a component")?
    } else if is_component(&bytes) {
        bytes
    } else {
        bail!(
            "{} is not a WebAssembly module or component",
            source.display()
        );
    };
    tracing::info!(
        "compiling {} (first start after a change; cached afterwards)",
        source.display()
    );
    let component = Component::new(engine, &component_bytes)
        .map_err(|e| anyhow::anyhow!("cannot compile: {e:#}"))?;
    let serialized = component.serialize()?;
    let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)
        .and_then(|_| std::fs::rename(&tmp, &cached))
        .ok();
    Ok(component)
}

fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}
