//! A build's context, read before it reaches the engine: the `FROM` lines of its Dockerfile that
//! name an official image the engine has no copy of, and that this run has a stand-in for, are
//! pointed at the stand-in - as the proxy does for a container of such an image. Where no
//! registry answers, a student's `FROM debian:bookworm-slim` so builds on the course's Debian
//! base (`containerlabs/debian:bookworm`) instead of failing to pull.

use super::Shared;
use std::io::Read;

/// Largest build context the proxy reads to rewrite.
pub(crate) const MAX_CONTEXT: usize = 512 << 20;

/// The Dockerfile's path in the context: the `dockerfile` query parameter, or `Dockerfile`.
pub(crate) fn dockerfile_name(query: &[(String, String)]) -> String {
    let named = query.iter().find(|(k, _)| k == "dockerfile").map(|(_, v)| v.as_str()).unwrap_or("Dockerfile");
    named.trim_start_matches("./").to_string()
}

/// `text` with each `FROM` of an image that has a stand-in here pointed at it; the images
/// replaced, as (named, stand-in). Stage names, `scratch` and images given by variables stay.
pub(crate) async fn rewrite_froms(shared: &Shared, text: &str) -> (String, Vec<(String, String)>) {
    let mut stages: Vec<String> = Vec::new();
    let mut replaced = Vec::new();
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        let Some((indent, rest)) = from_line(line) else {
            out.push(line.to_string());
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some(position) = words.iter().position(|w| !w.starts_with("--")) else {
            out.push(line.to_string());
            continue;
        };
        let image = words[position];
        let local = stages.contains(&image.to_ascii_lowercase());
        if let [as_word, alias] = &words[position + 1..] {
            if as_word.eq_ignore_ascii_case("as") {
                stages.push(alias.to_ascii_lowercase());
            }
        }
        if local || image.eq_ignore_ascii_case("scratch") || image.contains('$') {
            out.push(line.to_string());
            continue;
        }
        match shared.stand_in(image).await {
            Some(stand_in) => {
                let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                words[position] = stand_in.clone();
                let ending = if line.ends_with('\n') { "\n" } else { "" };
                out.push(format!("{indent}FROM {}{ending}", words.join(" ")));
                replaced.push((image.to_string(), stand_in));
            }
            None => out.push(line.to_string()),
        }
    }
    (out.concat(), replaced)
}

/// `FROM` (any case) at the start of a line: its indentation and the rest.
fn from_line(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let (word, rest) = trimmed.split_at(trimmed.find(char::is_whitespace)?);
    word.eq_ignore_ascii_case("FROM").then_some((indent, rest))
}

/// The context with its Dockerfile rewritten by [`rewrite_froms`]; `None` when nothing changed
/// (or the context is not a tar archive this can read: then the engine says what is wrong).
pub(crate) async fn with_stand_ins(
    shared: &Shared,
    context: &[u8],
    dockerfile: &str,
) -> Result<Option<(Vec<u8>, Vec<(String, String)>)>, String> {
    let raw: Vec<u8> = if context.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(context)
            .take(MAX_CONTEXT as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("the build context is not a readable gzip archive: {e}"))?;
        out
    } else {
        context.to_vec()
    };
    let Some(text) = read_entry(&raw, dockerfile) else { return Ok(None) };
    let (rewritten, replaced) = rewrite_froms(shared, &text).await;
    if replaced.is_empty() {
        return Ok(None);
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(raw.as_slice());
    let entries = archive.entries().map_err(|e| format!("the build context is not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the build context is not a tar archive: {e}"))?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut header = entry.header().clone();
        let kind = header.entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().map_err(|e| e.to_string())?.unwrap_or_default().into_owned();
            builder.append_link(&mut header, &path, &target).map_err(|e| e.to_string())?;
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        if normalized(&path.to_string_lossy()) == dockerfile {
            data = rewritten.clone().into_bytes();
            header.set_size(data.len() as u64);
        }
        builder.append_data(&mut header, &path, data.as_slice()).map_err(|e| e.to_string())?;
    }
    let bytes = builder.into_inner().map_err(|e| e.to_string())?;
    Ok(Some((bytes, replaced)))
}

fn normalized(path: &str) -> String {
    path.trim_start_matches("./").to_string()
}

/// The text of the file `name` in the tar archive `raw`.
fn read_entry(raw: &[u8], name: &str) -> Option<String> {
    let mut archive = tar::Archive::new(raw);
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        if normalized(&entry.path().ok()?.to_string_lossy()) == name && entry.header().entry_type().is_file() {
            let mut text = String::new();
            entry.by_ref().take(1 << 20).read_to_string(&mut text).ok()?;
            return Some(text);
        }
    }
    None
}
