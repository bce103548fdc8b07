//! `mcpgw`: the gateway's one binary.

// A faster allocator than glibc's for many small, short-lived buffers
// across threads: the data plane's per-request pattern.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mcpgw_control_plane::cli::main()
}
