//! What was built: printed by `--version` and served by `/version`.

use serde::Serialize;

/// Name, version, compiler and platform of a binary.
#[derive(Debug, Clone, Serialize)]
pub struct BuildInfo {
    /// Binary name, e.g. `pipeline-mgmt`.
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// `rustc --version` of the compiler that built it.
    pub rustc: &'static str,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
}

impl BuildInfo {
    /// Build information for the binary `name` at version `version`.
    pub fn new(name: &'static str, version: &'static str) -> Self {
        BuildInfo {
            name,
            version,
            rustc: env!("FLOW_RUSTC_VERSION"),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }

    /// One line for `--version`: `pipeline-mgmt 0.1.0 (rustc 1.95.0 …, linux/x86_64)`.
    pub fn line(&self) -> String {
        format!(
            "{} {} ({}, {}/{})",
            self.name, self.version, self.rustc, self.os, self.arch
        )
    }
}
