//! Where the URL and token come from: flags, then FLOW_URL/FLOW_TOKEN, then the config file.

use crate::client::Failure;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The default server when nothing names one.
const DEFAULT_URL: &str = "http://localhost:13012";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    url: Option<String>,
    token: Option<String>,
}

/// The resolved connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Connection {
    /// Base URL.
    pub url: String,
    /// Bearer token.
    pub token: Option<String>,
}

fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".config/flowctl/config.yaml"))
}

fn read_file(path: &Path, explicit: bool) -> Result<File, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_yaml::from_str(&text)
            .map_err(|e| Failure::local(format!("config file {}: {e}", path.display()))),
        Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(err) => Err(Failure::local(format!(
            "config file {}: {err}",
            path.display()
        ))),
    }
}

/// Flags win over the environment, the environment over the file.
pub fn resolve(
    url: Option<String>,
    token: Option<String>,
    config: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Connection, Failure> {
    let file = match config {
        Some(path) => read_file(path, true)?,
        None => match default_path() {
            Some(path) => read_file(&path, false)?,
            None => File::default(),
        },
    };
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(Connection {
        url: nonempty(url)
            .or_else(|| nonempty(env("FLOW_URL")))
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned()),
        token: nonempty(token)
            .or_else(|| nonempty(env("FLOW_TOKEN")))
            .or(file.token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_then_environment_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "url: http://file\ntoken: file-token\n").unwrap();
        let none = |_: &str| None;
        let env = |k: &str| (k == "FLOW_URL").then(|| "http://env".to_owned());
        let from_file = resolve(None, None, Some(&path), none).unwrap();
        assert_eq!(from_file.url, "http://file");
        assert_eq!(from_file.token.as_deref(), Some("file-token"));
        let from_env = resolve(None, None, Some(&path), env).unwrap();
        assert_eq!(from_env.url, "http://env");
        let from_flag = resolve(
            Some("http://flag".into()),
            Some("t".into()),
            Some(&path),
            env,
        );
        assert_eq!(
            from_flag.unwrap(),
            Connection {
                url: "http://flag".into(),
                token: Some("t".into())
            }
        );
        assert!(resolve(None, None, Some(&dir.path().join("missing")), none).is_err());
    }
}
