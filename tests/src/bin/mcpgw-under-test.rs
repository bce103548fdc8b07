//! The real `mcpgw` CLI, built inside the tests package so its tests can run
//! it as a child process.

fn main() -> std::process::ExitCode {
    mcpgw_control_plane::cli::main()
}
