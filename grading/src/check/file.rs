//! `file`: a file in the submission exists (or must not), contains strings, matches a regex.

use super::{Attempt, Context, Mismatch};
use serde::Deserialize;
use std::path::{Component, Path};

/// Largest file a check reads; bigger files are read up to this size.
const MAX_READ: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// Path relative to the submission root.
    pub path: String,
    /// `false` requires the file to be absent.
    #[serde(default = "yes")]
    pub exists: bool,
    /// Substrings the file must contain.
    #[serde(default)]
    pub contains: Vec<String>,
    /// A regular expression the file must match somewhere.
    pub matches: Option<String>,
}

fn yes() -> bool {
    true
}

impl FileCheck {
    pub(crate) fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.path.as_str()];
        all.extend(self.contains.iter().map(String::as_str));
        all.extend(self.matches.as_deref());
        all
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let path = Path::new(&self.path);
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("file path '{}' must be relative to the submission and stay inside it", self.path));
        }
        if let Some(re) = &self.matches {
            regex::Regex::new(re)
                .map_err(|e| format!("matches '{re}' does not compile: {}", super::http::regex_error(&e)))?;
        }
        if !self.exists && (!self.contains.is_empty() || self.matches.is_some()) {
            return Err("a file that must not exist cannot have contains or matches".into());
        }
        Ok(())
    }

    pub(crate) fn attempt(&self, ctx: &Context) -> Attempt {
        let relative = ctx.vars.expand(&self.path);
        let path = ctx.submission.join(&relative);
        // A submission's symlink must not let the grader read outside the submission.
        let inside = match (path.canonicalize(), ctx.submission.canonicalize()) {
            (Ok(file), Ok(root)) => Some(file.starts_with(root)),
            _ => None,
        };
        let present = path.is_file();
        if !self.exists {
            return if present {
                Attempt::Fail(Mismatch::new(format!("no file {relative}"), format!("{relative} exists")))
            } else {
                Attempt::Pass
            };
        }
        if !present {
            let actual = if path.exists() {
                format!("{relative} is not a regular file")
            } else {
                format!("{relative} does not exist")
            };
            return Attempt::Fail(Mismatch::new(format!("a file {relative}"), actual));
        }
        if inside == Some(false) {
            return Attempt::Fail(Mismatch::new(
                format!("{relative} inside the submission"),
                format!("{relative} is a link to a file outside the submission"),
            ));
        }
        if self.contains.is_empty() && self.matches.is_none() {
            return Attempt::Pass;
        }
        let text = match read_prefix(&path) {
            Ok(text) => text,
            Err(e) => {
                return Attempt::Fail(Mismatch::new(format!("{relative} readable"), format!("cannot read it: {e}")))
            }
        };
        let mut mismatches = Vec::new();
        for needle in &self.contains {
            let needle = ctx.vars.expand(needle);
            if !text.contains(&needle) {
                mismatches.push(Mismatch::new(
                    format!("{relative} contains {needle:?}"),
                    format!("{relative} does not contain it"),
                ));
            }
        }
        if let Some(pattern) = &self.matches {
            let pattern = ctx.vars.expand(pattern);
            match regex::Regex::new(&pattern) {
                Ok(re) if re.is_match(&text) => {}
                Ok(_) => mismatches
                    .push(Mismatch::new(format!("{relative} matches /{pattern}/"), "no line matches".to_string())),
                Err(e) => mismatches.push(Mismatch::new(format!("a valid pattern /{pattern}/"), e.to_string())),
            }
        }
        if mismatches.is_empty() {
            Attempt::Pass
        } else {
            Attempt::Fail(Mismatch::join(mismatches))
        }
    }
}

fn read_prefix(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_READ).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
