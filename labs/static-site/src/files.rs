//! The file cache: request paths resolved safely inside the site root, file bytes and prebuilt
//! headers kept in memory, revalidated against the disk at most once per [`REVALIDATE`].

use bytes::Bytes;
use http::HeaderValue;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How long a cached entry is trusted before its file is `stat`ed again (like nginx's
/// `open_file_cache_valid`): an edited file shows within this time.
pub const REVALIDATE: Duration = Duration::from_secs(1);
/// Files larger than this are streamed from disk instead of cached.
pub const MAX_CACHED_FILE: u64 = 8 << 20;
/// Total bytes the cache may hold; past it, new files are streamed instead.
pub const MAX_CACHE_BYTES: u64 = 256 << 20;
/// Smallest file worth compressing.
const MIN_GZIP: u64 = 256;

/// What a request path names, once checked.
#[derive(Debug)]
pub enum Lookup {
    Found(Arc<Entry>),
    /// A directory asked for without its trailing slash.
    AddSlash,
    NotFound,
    /// The path tries to leave the root (`..`, encoded dots, a symlink out).
    Refused,
}

/// A file, with everything needed to answer for it.
#[derive(Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub len: u64,
    pub modified: SystemTime,
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    pub content_type: HeaderValue,
    pub compressible: bool,
    /// The bytes, when cached.
    pub data: Option<Bytes>,
    /// Gzip-compressed bytes and their ETag, when smaller than the original.
    pub gzip: Option<(Bytes, HeaderValue)>,
    /// Milliseconds since the cache's epoch at the last check against the disk.
    checked: AtomicU64,
}

#[derive(Debug)]
pub struct Files {
    root: PathBuf,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    cached_bytes: AtomicU64,
    epoch: Instant,
    revalidate: Duration,
}

impl Files {
    /// `root` must exist; it is canonicalised so symlink escapes can be detected. Entries are
    /// trusted for `revalidate` before the disk is asked again (normally [`REVALIDATE`]).
    pub fn new(root: &Path, revalidate: Duration) -> std::io::Result<Files> {
        Ok(Files {
            root: root.canonicalize()?,
            entries: RwLock::new(HashMap::new()),
            cached_bytes: AtomicU64::new(0),
            epoch: Instant::now(),
            revalidate,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Resolves a raw request path (still percent-encoded).
    pub fn lookup(&self, raw_path: &str) -> Lookup {
        let Some(relative) = clean_path(raw_path) else {
            return Lookup::Refused;
        };
        let directory_request = raw_path.ends_with('/');
        let key = if directory_request { format!("{relative}/") } else { relative.clone() };
        // Bind first: a guard in the `if let` scrutinee would live through the block, and taking
        // the write lock below while holding the read lock would deadlock.
        let cached = self.entries.read().expect("cache lock").get(&key).cloned();
        if let Some(entry) = cached {
            if self.is_fresh(&entry) {
                return Lookup::Found(entry);
            }
            self.entries.write().expect("cache lock").remove(&key);
            self.cached_bytes.fetch_sub(entry.cached_size(), Ordering::Relaxed);
        }
        let mut path = self.root.join(&relative);
        let Ok(canonical) = path.canonicalize() else {
            return Lookup::NotFound;
        };
        if !canonical.starts_with(&self.root) {
            return Lookup::Refused;
        }
        if canonical.is_dir() {
            if !directory_request && !relative.is_empty() {
                return Lookup::AddSlash;
            }
            path = canonical.join("index.html");
            match path.canonicalize() {
                Ok(index) if index.starts_with(&self.root) => path = index,
                Ok(_) => return Lookup::Refused,
                Err(_) => return Lookup::NotFound,
            }
        } else if directory_request {
            return Lookup::NotFound;
        } else {
            path = canonical;
        }
        match self.load(&path) {
            Ok(entry) => {
                let entry = Arc::new(entry);
                let size = entry.cached_size();
                if size > 0 && self.cached_bytes.load(Ordering::Relaxed) + size > MAX_CACHE_BYTES {
                    // Over budget: answer from this entry without keeping its bytes around.
                    return Lookup::Found(entry);
                }
                self.cached_bytes.fetch_add(size, Ordering::Relaxed);
                self.entries.write().expect("cache lock").insert(key, entry.clone());
                Lookup::Found(entry)
            }
            Err(_) => Lookup::NotFound,
        }
    }

    /// Whether a cached entry still describes the file on disk.
    fn is_fresh(&self, entry: &Entry) -> bool {
        let now = self.now_ms();
        if now.saturating_sub(entry.checked.load(Ordering::Relaxed)) < self.revalidate.as_millis() as u64 {
            return true;
        }
        match std::fs::metadata(&entry.path) {
            Ok(meta) if meta.is_file() && meta.len() == entry.len && meta.modified().ok() == Some(entry.modified) => {
                entry.checked.store(now, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    fn load(&self, path: &Path) -> std::io::Result<Entry> {
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not a file"));
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let since_epoch = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let len = meta.len();
        let tag = format!("{:x}-{:x}-{:x}", since_epoch.as_secs(), since_epoch.subsec_micros(), len);
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let compressible = is_compressible(&mime);
        let content_type = if mime.type_() == mime_guess::mime::TEXT || mime.essence_str() == "application/javascript" {
            format!("{}; charset=utf-8", mime.essence_str())
        } else {
            mime.essence_str().to_string()
        };
        let data = if len <= MAX_CACHED_FILE { Some(Bytes::from(std::fs::read(path)?)) } else { None };
        let gzip = match &data {
            Some(bytes) if compressible && len >= MIN_GZIP => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(bytes)?;
                let compressed = encoder.finish()?;
                (compressed.len() < bytes.len()).then(|| {
                    (Bytes::from(compressed), HeaderValue::from_str(&format!("\"{tag}-gz\"")).expect("ascii etag"))
                })
            }
            _ => None,
        };
        // The data may have changed between stat and read: trust what was read.
        let len = data.as_ref().map_or(len, |d| d.len() as u64);
        Ok(Entry {
            path: path.to_path_buf(),
            len,
            modified,
            etag: HeaderValue::from_str(&format!("\"{tag}\"")).expect("ascii etag"),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified)).expect("ascii date"),
            content_type: HeaderValue::from_str(&content_type).expect("ascii mime"),
            compressible,
            data,
            gzip,
            checked: AtomicU64::new(self.now_ms()),
        })
    }
}

impl Entry {
    fn cached_size(&self) -> u64 {
        self.data.as_ref().map_or(0, |d| d.len() as u64) + self.gzip.as_ref().map_or(0, |(g, _)| g.len() as u64)
    }
}

fn is_compressible(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml" | "application/wasm"
        )
}

/// Decodes and checks a request path; returns it relative to the root (no leading slash), or
/// `None` when it must be refused: `..` (also percent-encoded), backslashes, NUL, invalid UTF-8,
/// and hidden files (a segment starting with `.`, except `.well-known`).
pub fn clean_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => continue,
            ".." => return None,
            s if s.starts_with('.') && s != ".well-known" => return None,
            s => segments.push(s),
        }
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let check = |raw: &str, expected: Option<&str>| assert_eq!(clean_path(raw).as_deref(), expected, "{raw}");
        check("/", Some(""));
        check("/index.html", Some("index.html"));
        check("/a//b/./c", Some("a/b/c"));
        check("/caf%C3%A9.html", Some("café.html"));
        check("/../etc/passwd", None);
        check("/a/../../etc/passwd", None);
        check("/%2e%2e/etc/passwd", None);
        check("/%2E%2E%2Fetc%2Fpasswd", None);
        check("/..%5c..%5cwindows", None);
        check("/a%00.html", None);
        check("/.git/config", None);
        check("/.env", None);
        check("/.well-known/security.txt", Some(".well-known/security.txt"));
        check("/%ff", None);
        check("relative", None);
    }
}
