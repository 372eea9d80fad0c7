//! Errors a caller may want to tell apart: a curriculum or rubric that cannot be loaded.
//!
//! Check failures are not errors - they are outcomes, reported with expected vs actual.

use std::path::PathBuf;

/// Why a curriculum or rubric file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read at all.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the expected shape.
    #[error("{path} is malformed: {message}")]
    Parse { path: PathBuf, message: String },
    /// The file parses but breaks a rule (duplicate ids, unknown prerequisite, ...).
    #[error("{path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl LoadError {
    /// toml's Display spans several lines with a caret diagram; keep the message and the line.
    pub(crate) fn parse(path: &std::path::Path, text: &str, err: toml::de::Error) -> LoadError {
        let message = one_line(err.message());
        let message = match err.span() {
            Some(span) => format!("line {}: {message}", text[..span.start.min(text.len())].matches('\n').count() + 1),
            None => message,
        };
        LoadError::Parse { path: path.to_path_buf(), message }
    }

    pub(crate) fn invalid(path: &std::path::Path, message: impl Into<String>) -> LoadError {
        LoadError::Invalid { path: path.to_path_buf(), message: message.into() }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
