fn main() -> std::process::ExitCode {
    pipeline_worker::cli::main()
}
