fn main() -> std::process::ExitCode {
    pipeline_mgmt::cli::main()
}
