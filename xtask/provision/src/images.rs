//! The images every lab builds on, made without a registry: the Debian base (debootstrap's
//! bookworm, imported), the stand-ins for official images (built from Debian's packages on it) and
//! the sandbox's toolbox, as `labs/images.toml` lists them.
//!
//! They are built with the `docker` CLI (the legacy builder, whose output is the same everywhere)
//! from build contexts whose bytes depend only on their inputs; each image carries the hash of
//! its context ([`policy::labels::INPUT_HASH`]) and is rebuilt only when that changes. The grader
//! and the launcher's prefetch both make them here, so either finds the other's work ready.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The labels every image the project makes carries.
pub fn own_labels() -> Vec<(String, String)> {
    vec![(policy::labels::MANAGED.to_string(), "true".to_string())]
}

/// The images the course knows (`labs/images.toml`): the Debian base, the toolbox, the
/// stand-ins for official images, and the families of each role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The Debian base every stand-in builds on, made with debootstrap and imported (once); it
    /// stands in for `debian:*` in a student's `FROM`.
    pub base: Base,
    pub toolbox: Toolbox,
    #[serde(rename = "stand_in")]
    pub stand_ins: Vec<StandIn>,
    /// Role -> the image families that make a service or container that role.
    pub roles: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub official: String,
    pub tag: String,
}

/// The sandbox's toolbox image (Debian's docker CLI and Compose): not a stand-in, the course's own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toolbox {
    pub tag: String,
    /// Its directory under `images/`.
    pub dir: String,
}

/// A stand-in for an official image, built from Debian's packages on the Debian base.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandIn {
    /// The official image it stands in for (what users with a registry pull).
    pub official: String,
    /// The stand-in's own tag (never the official name: a real pull must not be shadowed).
    pub tag: String,
    /// Its directory under `images/` (empty for the Debian base, which debootstrap makes).
    #[serde(default)]
    pub dir: String,
}

/// The catalogue, read once from `labs/images.toml` (compiled in, so every command and bench
/// knows it without a course folder).
pub fn catalogue_of_images() -> &'static Catalogue {
    static CATALOGUE: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(|| {
        parse_catalogue(include_str!("../../../labs/images.toml")).expect("labs/images.toml is checked by the tests")
    })
}

/// Parses and checks a catalogue: tags that are no official name, stand-ins with folders, no
/// official image twice.
pub fn parse_catalogue(text: &str) -> Result<Catalogue, String> {
    let mut catalogue: Catalogue = toml::from_str(text).map_err(|e| format!("labs/images.toml: {e}"))?;
    let mut seen = std::collections::BTreeSet::new();
    for s in &catalogue.stand_ins {
        if s.dir.is_empty() || s.tag == s.official || !seen.insert(s.official.clone()) {
            return Err(format!(
                "labs/images.toml: the stand-in for {} needs a folder, a tag of its own and no twin",
                s.official
            ));
        }
    }
    if catalogue.base.tag == catalogue.base.official {
        return Err("labs/images.toml: the base needs a tag of its own".into());
    }
    // The base serves `FROM debian:*` as the stand-ins serve their official images.
    catalogue.stand_ins.push(StandIn {
        official: catalogue.base.official.clone(),
        tag: catalogue.base.tag.clone(),
        dir: String::new(),
    });
    Ok(catalogue)
}

/// The stand-ins this project can build, the Debian base last.
pub fn stand_ins() -> &'static [StandIn] {
    &catalogue_of_images().stand_ins
}

/// The Debian base's tag.
pub fn debian_base_tag() -> &'static str {
    &catalogue_of_images().base.tag
}

/// The toolbox's tag.
pub fn toolbox_tag() -> &'static str {
    &catalogue_of_images().toolbox.tag
}

/// Whether a build ran or a cached image was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    Fresh,
    Cached,
}

/// How many stand-ins (and the toolbox) are built at once: their `apt-get` downloads and unpacks
/// overlap. `CLABS_IMAGE_JOBS` overrides it (1: one after another, to compare).
pub fn builds_at_once() -> usize {
    const AT_ONCE: usize = 3;
    std::env::var("CLABS_IMAGE_JOBS").ok().and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(AT_ONCE)
}

/// Where progress lines go (the grader's progress, or the prefetch's log).
pub type Say<'a> = &'a (dyn Fn(String) + Sync);

/// Held while a process makes images (see [`crate::Lock`]): two builds of one tag at once would
/// leave a dangling image behind. Its file is in the grader's target folder.
pub fn build_lock(grader: &Path, say: Say<'_>) -> anyhow::Result<crate::Lock> {
    let state = crate::state_dir(grader);
    crate::Lock::acquire(&state.join("images.lock"), || {
        say(format!(
            "waiting for the images another process is making (the launcher's, if this is a first run: {}) ...",
            crate::prefetch_log(grader).display()
        ))
    })
}

/// The `docker` CLI, talking to one engine.
#[derive(Debug, Clone)]
pub struct Cli {
    endpoint: String,
}

impl Cli {
    pub fn new(endpoint: &str) -> Cli {
        Cli { endpoint: endpoint.to_string() }
    }

    /// `docker -H <endpoint> ...`, with the legacy builder (the same on every engine version).
    pub fn command(&self) -> Command {
        let mut command = Command::new("docker");
        command.args(["-H", &self.endpoint]).env("DOCKER_BUILDKIT", "0");
        command
    }

    /// An image's id, if the engine has it.
    pub fn image_id(&self, tag: &str) -> Option<String> {
        self.inspect(tag, "{{.Id}}")
    }

    /// A label of an image the engine has (`Some("")` when the image has no such label).
    pub fn image_label(&self, tag: &str, label: &str) -> Option<String> {
        self.inspect(tag, &format!("{{{{index .Config.Labels \"{label}\"}}}}"))
    }

    /// Pulls `image` from its registry; the engine's error in one line when it cannot.
    pub fn pull(&self, image: &str) -> Result<(), String> {
        let output = self.command().args(["pull", "--quiet", image]).output().map_err(|e| e.to_string())?;
        if output.status.success() {
            return Ok(());
        }
        Err(String::from_utf8_lossy(&output.stderr).split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// Removes an image by id, never by force: the engine refuses while a container or another
    /// image stands on it.
    fn remove(&self, id: &str) -> bool {
        self.command()
            .args(["image", "rm", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn inspect(&self, tag: &str, format: &str) -> Option<String> {
        let output =
            self.command().args(["image", "inspect", "--format", format, tag]).stderr(Stdio::null()).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

/// The images this process's builds took one of the course's tags from, not yet removed.
static REPLACED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// After a build gave `tag` a new image: image `before` (what `tag` named until then), if it is
/// one of the course's (`containerlabs/...`), untagged now and labelled as the project's, is
/// removed, and so is every image an earlier build of this process replaced that nothing stands
/// on any more (an old base goes once the old stand-ins built on it are gone). An image the engine
/// will not remove without force - a container uses it, another image is built on it, someone
/// tagged it - stays: it is not ours alone.
pub fn retire(cli: &Cli, tag: &str, before: Option<String>) {
    let mut replaced = REPLACED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(before) = before {
        let course = tag.starts_with("containerlabs/");
        if course && cli.image_id(tag).is_some_and(|now| now != before) && !replaced.contains(&before) {
            replaced.push(before);
        }
    }
    // Newest first: an old stand-in goes before the old base under it.
    let mut kept = Vec::new();
    for id in replaced.drain(..).rev() {
        let ours = format!("{{{{len .RepoTags}}}} {{{{index .Config.Labels \"{}\"}}}}", policy::labels::MANAGED);
        match cli.inspect(&id, &ours).as_deref() {
            None => {}
            Some("0 true") if cli.remove(&id) => {}
            Some("0 true") => kept.push(id),
            // Tagged again, or not the project's: never removed.
            Some(_) => {}
        }
    }
    kept.reverse();
    *replaced = kept;
}

/// The hash a build context is known by ([`policy::labels::INPUT_HASH`]): FNV-1a, 64 bit, of its
/// bytes - stable, not for security.
pub fn input_hash(context: &[u8]) -> String {
    let hash = context
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// A build context being assembled: a tar archive whose entries have fixed metadata (no mtime, no
/// owner), so equal inputs give equal bytes and equal cache hashes.
#[derive(Default)]
pub struct BuildContext(Option<tar::Builder<Vec<u8>>>);

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuildContext")
    }
}

impl BuildContext {
    pub fn new() -> BuildContext {
        BuildContext(Some(tar::Builder::new(Vec::new())))
    }

    pub fn add(&mut self, path: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        self.0.as_mut().expect("not finished").append_data(&mut header, path, bytes)?;
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<Vec<u8>> {
        Ok(self.0.take().expect("finished once").into_inner()?)
    }
}

/// Regular files under `dir`, sorted (so the archive is the same every time). Symlinks are not
/// followed: a link in a submission's site must not put a file of the grader's machine in an image.
pub fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("cannot read {}", current.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Builds `tag` from a tar build context with the CLI, unless an image with that tag was built
/// from the same bytes; `extra_labels` go on the image too.
pub fn build(
    cli: &Cli,
    tag: &str,
    context: Vec<u8>,
    extra_labels: &BTreeMap<String, String>,
    say: Say<'_>,
) -> anyhow::Result<Built> {
    let hash = input_hash(&context);
    if cli.image_label(tag, policy::labels::INPUT_HASH).as_deref() == Some(hash.as_str()) {
        return Ok(Built::Cached);
    }
    say(format!("building image {tag} ..."));
    let before = cli.image_id(tag);
    let mut command = cli.command();
    command.args(["build", "--quiet=false", "--force-rm", "--tag", tag]);
    let labels = own_labels().into_iter().chain([(policy::labels::INPUT_HASH.to_string(), hash)]);
    for (key, value) in labels.chain(extra_labels.clone()) {
        command.arg("--label").arg(format!("{key}={value}"));
    }
    let mut child = command
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run docker build (the docker CLI is needed)")?;
    let mut stdin = child.stdin.take().expect("piped");
    let feeding = std::thread::spawn(move || stdin.write_all(&context));
    let stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
        text
    });
    // The build's last lines say what failed (apt's error comes before the builder's own).
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.unwrap_or_default();
        let line = line.trim();
        if line.starts_with("Step ") {
            say(format!("  {line}"));
        }
        if tail.len() == 8 {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }
    let status = child.wait().context("docker build")?;
    let _ = feeding.join();
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<String> = tail.into_iter().filter(|l| !l.is_empty()).collect();
        bail!("building {tag} failed: {} ({})", errors.trim(), tail.join(" / "));
    }
    retire(cli, tag, before);
    Ok(Built::Fresh)
}

/// Imports the Debian base unless it is there already: debootstrap's bookworm (minbase), made in
/// a folder of `/var/tmp` that is removed afterwards (and by the next run, if this one was killed).
/// Needs root and debootstrap (installed if missing, on Debian).
pub fn debian_base(cli: &Cli, say: Say<'_>) -> anyhow::Result<Built> {
    if cli.image_label(debian_base_tag(), policy::labels::INPUT_HASH).as_deref() == Some(base_hash().as_str()) {
        return Ok(Built::Cached);
    }
    crate::engine::install_tool("debootstrap", "debootstrap", "the Debian base image")?;
    remove_stale_roots();
    let dir = PathBuf::from(format!("/var/tmp/clabs-debootstrap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let before = cli.image_id(debian_base_tag());
    let made = make_base(cli, &dir, say);
    remove_root(&dir);
    made?;
    retire(cli, debian_base_tag(), before);
    Ok(Built::Fresh)
}

/// What debootstrap is asked for: the suite and variant.
const DEBOOTSTRAP: [&str; 2] = ["--variant=minbase", "bookworm"];

/// The files the official `debian:bookworm-slim` has beyond debootstrap's minbase (debuerreotype's
/// minimizing and slimming configuration), which the base gets too: dpkg does not sync after each
/// file it unpacks (a build that fails is built again, not repaired), apt keeps no packages or
/// translations, and documentation, manuals and locales are not unpacked (copyright notices are).
/// Stand-in builds unpack less and wait less for the disk, as builds on the official image do.
const SLIM: &[(&str, &str)] = &[
    ("etc/dpkg/dpkg.cfg.d/docker-apt-speedup", "force-unsafe-io\n"),
    (
        "etc/apt/apt.conf.d/docker-clean",
        "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
         Dir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\n",
    ),
    ("etc/apt/apt.conf.d/docker-no-languages", "Acquire::Languages \"none\";\n"),
    ("etc/apt/apt.conf.d/docker-gzip-indexes", "Acquire::GzipIndexes \"true\";\nAcquire::CompressionTypes::Order:: \"gz\";\n"),
    ("etc/apt/apt.conf.d/docker-autoremove-suggests", "Apt::AutoRemove::SuggestsImportant \"false\";\n"),
    (
        "etc/dpkg/dpkg.cfg.d/docker",
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\n\
         path-exclude /usr/share/groff/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/lintian/*\n\
         path-exclude /usr/share/linda/*\npath-exclude /usr/share/locale/*\n",
    ),
];

/// The base's input hash: what debootstrap is asked for and the files added to it (a change to
/// either makes a new base, and so new stand-ins).
fn base_hash() -> String {
    let mut inputs = DEBOOTSTRAP.join(" ");
    for (path, text) in SLIM {
        inputs.push_str(&format!("\n{path}\n{text}"));
    }
    input_hash(inputs.as_bytes())
}

fn make_base(cli: &Cli, dir: &Path, say: Say<'_>) -> anyhow::Result<()> {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    say("making the Debian base with debootstrap (about half a minute) ...".into());
    let output = Command::new("debootstrap")
        .args(DEBOOTSTRAP)
        .arg(&rootfs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run debootstrap")?;
    if !output.status.success() {
        bail!(
            "debootstrap failed (it needs root and Debian's package mirror): {}",
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
        );
    }
    for (path, text) in SLIM {
        let file = rootfs.join(path);
        std::fs::create_dir_all(file.parent().expect("in a folder"))?;
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    // What minbase unpacked before the exclusions applied.
    for dir in ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"] {
        remove_all_but_copyrights(&rootfs.join(dir));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run tar")?;
    let mut import = cli.command();
    import.arg("import");
    let hash = (policy::labels::INPUT_HASH.to_string(), base_hash());
    for (key, value) in own_labels().into_iter().chain([hash]) {
        import.arg("--change").arg(format!("LABEL {key}={value}"));
    }
    let imported = import
        .args(["--change", "CMD [\"bash\"]", "-", debian_base_tag()])
        .stdin(tar.stdout.take().expect("piped"))
        .stdout(Stdio::null())
        .output()
        .context("cannot run docker import")?;
    let archived = tar.wait().context("tar")?;
    if !archived.success() {
        bail!("archiving the debootstrap root file system failed");
    }
    if !imported.status.success() {
        bail!("importing the Debian base failed: {}", String::from_utf8_lossy(&imported.stderr).trim());
    }
    Ok(())
}

/// Empties `dir` of everything but files named `copyright` (what the slim image keeps).
fn remove_all_but_copyrights(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                remove_all_but_copyrights(&path);
                let _ = std::fs::remove_dir(&path);
            }
            Ok(_) if entry.file_name() != "copyright" => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// Removes a debootstrap folder, first unmounting what debootstrap mounted in it (`/proc`,
/// `/sys`), if it was stopped before it could.
fn remove_root(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> =
        mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|p| Path::new(p).starts_with(dir)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").args(["--lazy", point]).status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the debootstrap folders of runs that are gone (killed before they could).
fn remove_stale_roots() {
    let Ok(entries) = std::fs::read_dir("/var/tmp") else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("clabs-debootstrap-").and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_root(&entry.path());
        }
    }
}

/// The build context of the stand-in in `images/<dir>/` of the course at `root`, on the base
/// whose image id is `base_id` (so a new base makes new stand-ins).
pub fn stand_in_context(root: &Path, dir: &str, base_id: &str) -> anyhow::Result<Vec<u8>> {
    let source = root.join("images").join(dir);
    let mut context = BuildContext::new();
    context.add(".base-image-id", base_id.as_bytes(), 0o644)?;
    for file in walk(&source)? {
        let relative = file.strip_prefix(&source).expect("walked under source").display().to_string();
        let executable = relative.ends_with(".sh");
        let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        context.add(&relative, &bytes, if executable { 0o755 } else { 0o644 })?;
    }
    context.finish()
}

/// Builds a stand-in (or the toolbox) from `images/<dir>/` on the Debian base, rebuilt when its
/// files or the base change; the base itself when `tag` is the base's.
pub fn stand_in(cli: &Cli, root: &Path, tag: &str, dir: &str, say: Say<'_>) -> anyhow::Result<Built> {
    if tag == debian_base_tag() {
        return debian_base(cli, say);
    }
    debian_base(cli, say)?;
    let base_id = cli.image_id(debian_base_tag()).context("the Debian base is not in the engine")?;
    build(cli, tag, stand_in_context(root, dir, &base_id)?, &BTreeMap::new(), say)
}

/// Builds each of `builds` (tag, folder under `images/`) on the Debian base, made first,
/// [`builds_at_once`] at a time; `done` is told of each as it ends. The first failure, if any.
pub fn stand_ins_at_once(
    cli: &Cli,
    root: &Path,
    builds: &[(String, String)],
    say: Say<'_>,
    done: &(dyn Fn(&str, Built) + Sync),
) -> anyhow::Result<()> {
    if builds.is_empty() {
        return Ok(());
    }
    debian_base(cli, say)?;
    let queue = std::sync::Mutex::new(builds.iter().collect::<std::collections::VecDeque<_>>());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..builds_at_once().min(builds.len()) {
            scope.spawn(|| loop {
                let Some((tag, dir)) = queue.lock().expect("queue").pop_front() else { break };
                match stand_in(cli, root, tag, dir, say) {
                    Ok(built) => done(tag, built),
                    Err(why) => failures.lock().expect("failures").push(why),
                }
            });
        }
    });
    match failures.into_inner().expect("failures").into_iter().next() {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_give_equal_contexts_and_a_new_base_a_new_one() {
        let root = crate::workspace_root();
        let first = stand_in_context(&root, "redis", "sha256:one").unwrap();
        assert_eq!(input_hash(&first), input_hash(&stand_in_context(&root, "redis", "sha256:one").unwrap()));
        assert_ne!(input_hash(&first), input_hash(&stand_in_context(&root, "redis", "sha256:two").unwrap()));
        assert_eq!(input_hash(b""), "cbf29ce484222325", "FNV-1a's offset basis: the hash is the same everywhere");
    }

    #[test]
    fn the_catalogue_names_a_folder_with_a_dockerfile_for_each_stand_in_and_the_toolbox() {
        let root = crate::workspace_root();
        let catalogue = catalogue_of_images();
        let dirs = catalogue.stand_ins.iter().map(|s| &s.dir).filter(|d| !d.is_empty()).chain([&catalogue.toolbox.dir]);
        for dir in dirs {
            assert!(root.join("images").join(dir).join("Dockerfile").is_file(), "images/{dir}/Dockerfile");
        }
        assert_eq!(stand_ins().last().unwrap().tag, debian_base_tag(), "the base comes last");
    }
}
