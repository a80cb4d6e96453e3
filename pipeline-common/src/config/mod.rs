//! Layered configuration shared by pipeline-mgmt and pipeline-worker.
//!
//! Layers, each overriding the one before:
//!
//! 1. the built-in defaults (`defaults.yaml` beside this file, the keys of DESIGN §6);
//! 2. the configuration file given with `--config` (e.g. `config/pipeline-config.yaml`);
//! 3. an optional per-environment overlay: with `FLOW_ENVIRONMENT=production`, the file
//!    `pipeline-config.production.yaml` beside the base file, when it exists;
//! 4. environment variables.
//!
//! # Environment variable names
//!
//! `FLOW__<SECTION>__<KEY>`: the prefix `FLOW`, then the path of the key, segments separated by a
//! double underscore. A segment matches a key when both are equal ignoring case and single
//! underscores, so `FLOW__SERVER__HTTP_PORT` and `FLOW__SERVER__HTTPPORT` both set `server.httpPort`,
//! and `FLOW__MQ__MQ_HOST` sets `mq.mqHost`. The value is read as the type of the key's default:
//! numbers and booleans are parsed, a list of strings takes a comma-separated value
//! (`FLOW__OPENSEARCH__URLS=http://a:9200,http://b:9200`), and a list of objects takes JSON
//! (`FLOW__AUTH__TOKENS='[{"name":"ops","role":"admin","sha256":"…"}]'`).
//! A variable with the prefix that names no key is an error, so typos fail at start-up.
//!
//! Secrets (`mq.password`, `opensearch.password`, `database.url`) are [`SecretString`]s: their
//! `Debug` output is redacted, and only [`ExposeSecret::expose_secret`] reveals them. Each also
//! has a `…File` form (`mq.passwordFile`, `opensearch.passwordFile`, `database.urlFile`) naming a
//! file to read it from, e.g. a mounted Kubernetes Secret.

mod env;
mod secret_files;
mod settings;

pub use secrecy::{ExposeSecret, SecretString};
pub use settings::*;

use std::path::{Path, PathBuf};

/// The built-in defaults, one YAML document holding every key.
pub const DEFAULTS_YAML: &str = include_str!("defaults.yaml");

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "FLOW";

/// Environment variable that selects the per-environment overlay file.
pub const ENV_SELECTOR: &str = "FLOW_ENVIRONMENT";

/// A configuration that cannot be loaded; its `Display` is one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed.
    #[error("configuration file {path}: {message}")]
    File {
        /// The file at fault.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A key holds a value of the wrong type, an unknown key, or a value out of range.
    #[error("configuration key `{key}`: {message}")]
    Key {
        /// Dotted path of the key, e.g. `server.httpPort`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An environment variable names no configuration key.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable at fault.
        var: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn key(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Where to load configuration from. Built by the binaries from their CLI and environment.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The base file; `None` uses the built-in defaults and the environment only.
    pub file: Option<PathBuf>,
    /// The overlay environment name (`FLOW_ENVIRONMENT`), if any.
    pub environment: Option<String>,
    /// The environment variables to apply, as (name, value) pairs.
    pub vars: Vec<(String, String)>,
}

impl ConfigSource {
    /// A source reading `file` (if given) and the process environment.
    pub fn from_process(file: Option<PathBuf>) -> Self {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let environment = vars
            .iter()
            .find(|(k, _)| k == ENV_SELECTOR)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        ConfigSource {
            file,
            environment,
            vars,
        }
    }

    /// The overlay file that `environment` selects, beside the base file.
    pub fn overlay_path(&self) -> Option<PathBuf> {
        let env = self.environment.as_deref()?;
        let base = self.file.as_deref()?;
        let dir = base.parent().unwrap_or_else(|| Path::new("."));
        let stem = base.file_stem()?.to_string_lossy();
        Some(dir.join(format!("{stem}.{env}.yaml")))
    }
}

impl Settings {
    /// Loads and validates the layered configuration described in the module documentation.
    pub fn load(source: &ConfigSource) -> Result<Settings, ConfigError> {
        let defaults: serde_json::Value =
            serde_yaml::from_str(DEFAULTS_YAML).map_err(|e| ConfigError::File {
                path: PathBuf::from("<built-in defaults>"),
                message: e.to_string(),
            })?;

        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULTS_YAML,
            config::FileFormat::Yaml,
        ));
        if let Some(file) = &source.file {
            if !file.exists() {
                return Err(ConfigError::File {
                    path: file.clone(),
                    message: "no such file".into(),
                });
            }
            builder = builder.add_source(config::File::from(file.as_path()).required(true));
        }
        if let Some(overlay) = source.overlay_path() {
            builder = builder.add_source(config::File::from(overlay).required(false));
        }
        builder = builder.add_source(env::EnvSource::new(ENV_PREFIX, &source.vars, &defaults)?);

        let merged = builder.build().map_err(from_config_error)?;
        let tree: serde_json::Value = merged.try_deserialize().map_err(from_config_error)?;
        let mut settings: Settings = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::key(key, e.into_inner().to_string())
        })?;
        settings.read_secret_files()?;
        settings.validate()?;
        settings.validate_tls_files()?;
        Ok(settings)
    }
}

fn from_config_error(err: config::ConfigError) -> ConfigError {
    match err {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => ConfigError::key(key, format!("expected {expected}, found {unexpected}")),
        config::ConfigError::FileParse { uri, cause } => ConfigError::File {
            path: PathBuf::from(uri.unwrap_or_default()),
            message: cause.to_string(),
        },
        config::ConfigError::NotFound(key) => ConfigError::key(key, "missing"),
        other => ConfigError::File {
            path: PathBuf::from("<configuration>"),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
