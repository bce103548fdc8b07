//! `mcpgw`: the gateway's one binary.

fn main() -> std::process::ExitCode {
    mcpgw_control_plane::cli::main()
}
