//! The `finpulse` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    finpulse_gateway::cli::main()
}
