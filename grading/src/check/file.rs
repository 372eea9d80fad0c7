//! `file`: a file in the submission exists (or must not), contains strings, matches a regex.

use super::{Attempt, Context, Kind, Mismatch, Needs};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use std::path::{Component, Path};
use std::time::Duration;
use tokio::time::Instant;

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
    /// What `matches` asks for, in the student's words ("a <title> with text in it"); without
    /// it, the expected side shows the pattern.
    pub matches_means: Option<String>,
    /// When `matches` fails: what was found instead, told by the first of these whose pattern
    /// the file matches ("the title is empty"); without one that matches, "nothing in it does".
    #[serde(default)]
    pub explain: Vec<Explain>,
    /// A regular expression no line of the file may match (the lines that do are shown).
    pub not_matches: Option<String>,
    /// `path` is a folder (a web root, say) and no symbolic link in it leads outside it: a
    /// server that follows links (nginx does, unless `disable_symlinks`) would serve what it
    /// points at - `/etc/passwd`, the whole disk.
    #[serde(default)]
    pub no_links_out: bool,
    /// `path` is a folder (a web root, say) and no file or folder in it has a name this regular
    /// expression matches: what is in a web root is served (dotfiles such as `.git/` and `.env`,
    /// an editor's `index.html~` or `.swp`, a `site.bak`).
    pub no_names_matching: Option<String>,
}

/// One way a file can miss [`FileCheck::matches`], and how to say it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explain {
    /// A regular expression the file matches when it misses this way.
    pub when: String,
    /// What the report's `actual` says then.
    pub actual: String,
}

/// Most entries [`FileCheck::no_links_out`] looks at; a bigger folder fails with that reason.
const MAX_ENTRIES: usize = 20_000;

fn yes() -> bool {
    true
}

impl FileCheck {
    pub(crate) fn attempt_at(&self, ctx: &Context) -> Attempt {
        let relative = ctx.vars.expand(&self.path);
        let path = ctx.submission.join(&relative);
        // A submission's symlink must not let the grader read outside the submission.
        let inside = match (path.canonicalize(), ctx.submission.canonicalize()) {
            (Ok(file), Ok(root)) => Some(file.starts_with(root)),
            _ => None,
        };
        if self.no_links_out {
            return links_out(&path, &relative);
        }
        if let Some(pattern) = &self.no_names_matching {
            return names_matching(&path, &relative, &ctx.vars.expand(pattern));
        }
        // A folder's files, each judged by not_matches (the one rule that reads sensibly over several files).
        if path.is_dir() && self.exists && self.contains.is_empty() && self.matches.is_none() {
            if let Some(pattern) = &self.not_matches {
                return lines_matching_in_folder(&path, &relative, &ctx.vars.expand(pattern));
            }
        }
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
        if self.contains.is_empty() && self.matches.is_none() && self.not_matches.is_none() {
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
                Ok(_) => {
                    let expected = match &self.matches_means {
                        Some(means) => format!("{relative} with {}", ctx.vars.expand(means)),
                        None => format!("{relative} matches /{pattern}/"),
                    };
                    let found = self
                        .explain
                        .iter()
                        .find(|e| regex::Regex::new(&ctx.vars.expand(&e.when)).is_ok_and(|re| re.is_match(&text)))
                        .map(|e| ctx.vars.expand(&e.actual));
                    let actual = match found {
                        Some(found) => found,
                        None if text.trim().is_empty() => format!("{relative} is empty"),
                        None => format!("nothing in {relative} matches"),
                    };
                    mismatches.push(Mismatch::new(expected, actual))
                }
                Err(e) => mismatches.push(Mismatch::new(format!("a valid pattern /{pattern}/"), e.to_string())),
            }
        }
        if let Some(pattern) = &self.not_matches {
            let pattern = ctx.vars.expand(pattern);
            match regex::Regex::new(&pattern) {
                Ok(re) => {
                    let lines: Vec<String> = text
                        .lines()
                        .enumerate()
                        .filter(|(_, line)| re.is_match(line))
                        .map(|(i, line)| format!("line {}: {}", i + 1, super::excerpt(line.trim(), 100)))
                        .collect();
                    if !lines.is_empty() {
                        mismatches.push(Mismatch::new(
                            format!("no line of {relative} matching /{pattern}/"),
                            lines.into_iter().take(3).collect::<Vec<_>>().join("; "),
                        ));
                    }
                }
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

impl Kind for FileCheck {
    fn name(&self) -> &'static str {
        "file"
    }

    fn needs(&self) -> Needs {
        Needs::FILES
    }

    fn strings(&self) -> Vec<&str> {
        let mut all = vec![self.path.as_str()];
        all.extend(self.contains.iter().map(String::as_str));
        all.extend(self.matches.as_deref());
        all.extend(self.not_matches.as_deref());
        all.extend(self.no_names_matching.as_deref());
        all.extend(self.matches_means.as_deref());
        all.extend(self.explain.iter().flat_map(|e| [e.when.as_str(), e.actual.as_str()]));
        all
    }

    fn validate(&self) -> Result<(), String> {
        let path = Path::new(&self.path);
        if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("file path '{}' must be relative to the submission and stay inside it", self.path));
        }
        for (key, re) in [
            ("matches", &self.matches),
            ("not_matches", &self.not_matches),
            ("no_names_matching", &self.no_names_matching),
        ] {
            if let Some(re) = re {
                // Placeholders are filled in before matching: compile it with stand-in values.
                regex::Regex::new(&crate::vars::with_stand_ins(re))
                    .map_err(|e| format!("{key} '{re}' does not compile: {}", super::http::regex_error(&e)))?;
            }
        }
        for explain in &self.explain {
            regex::Regex::new(&crate::vars::with_stand_ins(&explain.when)).map_err(|e| {
                format!("explain's when '{}' does not compile: {}", explain.when, super::http::regex_error(&e))
            })?;
        }
        if self.matches.is_none() && (self.matches_means.is_some() || !self.explain.is_empty()) {
            return Err("matches_means and explain say how `matches` fails: give matches".into());
        }
        let about_text = !self.contains.is_empty() || self.matches.is_some() || self.not_matches.is_some();
        if !self.exists && (about_text || self.no_links_out) {
            return Err("a file that must not exist cannot have contains, matches, not_matches or no_links_out".into());
        }
        if self.no_links_out && about_text {
            return Err("no_links_out is about a folder: it cannot have contains, matches or not_matches".into());
        }
        if self.no_names_matching.is_some() && (about_text || self.no_links_out || !self.exists) {
            return Err("no_names_matching is about a folder: it goes alone".into());
        }
        Ok(())
    }

    fn attempt<'a>(&'a self, ctx: &'a Context, _deadline: Instant, _interval: Duration) -> BoxFuture<'a, Attempt> {
        Box::pin(async move { self.attempt_at(ctx) })
    }
}

/// Fails when `folder` is not a folder inside the submission or a symbolic link under it leads
/// outside it (dangling ones judged by where they point); names every such link.
fn links_out(folder: &Path, relative: &str) -> Attempt {
    let root = match std::fs::symlink_metadata(folder) {
        Ok(meta) if meta.is_dir() => match folder.canonicalize() {
            Ok(root) => root,
            Err(e) => {
                return Attempt::Fail(Mismatch::new(format!("a folder {relative}"), format!("cannot read it: {e}")))
            }
        },
        Ok(meta) if meta.file_type().is_symlink() => {
            return Attempt::Fail(Mismatch::new(
                format!("a folder {relative}"),
                format!("{relative} is itself a symbolic link (to {})", link_target(folder)),
            ))
        }
        Ok(_) => {
            return Attempt::Fail(Mismatch::new(format!("a folder {relative}"), format!("{relative} is not a folder")))
        }
        Err(_) => {
            return Attempt::Fail(Mismatch::new(format!("a folder {relative}"), format!("{relative} does not exist")))
        }
    };
    let mut out = Vec::new();
    let walked = walk(&root, relative, |entry, meta| {
        if meta.file_type().is_symlink() && !leads_inside(entry, &root) {
            let shown = entry.strip_prefix(&root).unwrap_or(entry).display().to_string();
            out.push(format!("{relative}/{shown} -> {}", link_target(entry)));
        }
        meta.is_dir()
    });
    if let Err(too_many) = walked {
        return too_many;
    }
    if out.is_empty() {
        return Attempt::Pass;
    }
    out.sort();
    Attempt::Fail(Mismatch::new(
        format!("no symbolic link in {relative} leading outside it"),
        format!(
            "{} {} outside: {}",
            out.len(),
            if out.len() == 1 { "link leads" } else { "links lead" },
            out.join(", ")
        ),
    ))
}

/// Visits everything under `folder`, in name order, without following links; `visit` says
/// whether to go into a folder. More than [`MAX_ENTRIES`] is a failure naming `relative`.
fn walk(
    folder: &Path,
    relative: &str,
    mut visit: impl FnMut(&Path, &std::fs::Metadata) -> bool,
) -> Result<(), Attempt> {
    let mut seen = 0;
    let mut folders = vec![folder.to_path_buf()];
    while let Some(dir) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(Attempt::Fail(Mismatch::new(
                    format!("at most {MAX_ENTRIES} files and folders in {relative}"),
                    "more than that".to_string(),
                )));
            }
            let Ok(meta) = std::fs::symlink_metadata(&entry) else { continue };
            if visit(&entry, &meta) && meta.is_dir() {
                folders.push(entry);
            }
        }
    }
    Ok(())
}

/// Every file or folder under `folder` whose name matches `pattern` (without following links):
/// a failure naming them, or a pass.
fn names_matching(folder: &Path, relative: &str, pattern: &str) -> Attempt {
    let re = match regex::Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => return Attempt::Fail(Mismatch::new(format!("a valid pattern /{pattern}/"), e.to_string())),
    };
    if !std::fs::symlink_metadata(folder).is_ok_and(|m| m.is_dir()) {
        return Attempt::Fail(Mismatch::new(format!("a folder {relative}"), format!("{relative} is not a folder")));
    }
    let mut found = Vec::new();
    let walked = walk(folder, relative, |entry, meta| {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = entry.strip_prefix(folder).unwrap_or(entry).display().to_string();
        if !re.is_match(&name) {
            return meta.is_dir();
        }
        // A matching folder is named once, not everything in it.
        found.push(if meta.is_dir() { format!("{relative}/{shown}/") } else { format!("{relative}/{shown}") });
        false
    });
    if let Err(too_many) = walked {
        return too_many;
    }
    if found.is_empty() {
        return Attempt::Pass;
    }
    found.sort();
    let count = found.len();
    Attempt::Fail(Mismatch::new(
        format!("nothing in {relative} named like /{pattern}/"),
        format!("{count} served from it: {}", found.into_iter().take(5).collect::<Vec<_>>().join(", ")),
    ))
}

/// The lines of the files directly in `folder` that match `pattern`, as a failure; else a pass.
fn lines_matching_in_folder(folder: &Path, relative: &str, pattern: &str) -> Attempt {
    let re = match regex::Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => return Attempt::Fail(Mismatch::new(format!("a valid pattern /{pattern}/"), e.to_string())),
    };
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let Ok(text) = read_prefix(&file) else { continue };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (i, line) in text.lines().enumerate().filter(|(_, line)| re.is_match(line)) {
            lines.push(format!("{relative}/{name} line {}: {}", i + 1, super::excerpt(line.trim(), 100)));
        }
    }
    if lines.is_empty() {
        return Attempt::Pass;
    }
    Attempt::Fail(Mismatch::new(
        format!("no line of the files in {relative} matching /{pattern}/"),
        lines.into_iter().take(3).collect::<Vec<_>>().join("; "),
    ))
}

fn link_target(link: &Path) -> String {
    std::fs::read_link(link).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into())
}

/// Whether the link at `link` (inside `root`, canonical) resolves inside `root`: through the file
/// system when its target exists, else by its path with `..` taken lexically.
fn leads_inside(link: &Path, root: &Path) -> bool {
    if let Ok(real) = link.canonicalize() {
        return real.starts_with(root);
    }
    let Ok(target) = std::fs::read_link(link) else { return false };
    let mut resolved = if target.is_absolute() {
        std::path::PathBuf::new()
    } else {
        link.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    for part in target.components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            other => resolved.push(other.as_os_str()),
        }
    }
    resolved.starts_with(root)
}

fn read_prefix(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_READ).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
