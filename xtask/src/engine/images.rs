//! Images without a registry: the project's own binaries, built statically and put in `FROM scratch`
//! images, labelled, and rebuilt only when their inputs change.
//!
//! A static glibc build (`-C target-feature=+crt-static` for `x86_64-unknown-linux-gnu`) runs in an
//! empty image and still resolves other containers' names on a user-defined network. Each image
//! records a hash of everything that went into it (label [`INPUT_LABEL`]); an image whose label
//! matches is reused as it is.

use crate::engine::{Engine, LABEL};
use anyhow::{bail, Context};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target a static build is made for.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The label holding the hash of an image's inputs.
pub use policy::labels::INPUT_HASH as INPUT_LABEL;
/// Makes the course's images under another namespace than `containerlabs/` (lower-case letters,
/// digits and `-`): everything is built anew beside the machine's own images, none of which is
/// used or touched, and each carries [`policy::labels::IMAGE_NAMESPACE`] to be removed by.
/// `bench cold-start` sets it.
pub const NAMESPACE_ENV: &str = "CLABS_IMAGE_NAMESPACE";
/// The course's own namespace.
const OWN_NAMESPACE: &str = "containerlabs";

/// The namespace [`NAMESPACE_ENV`] asks for, if it is a valid one.
pub fn namespace() -> Option<String> {
    let ns = std::env::var(NAMESPACE_ENV).ok()?;
    let valid = !ns.is_empty() && ns.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (valid && ns != OWN_NAMESPACE).then_some(ns)
}

/// `tag` under the namespace in use: `containerlabs/x:y` becomes `<namespace>/x:y`; any other
/// image is left as it is.
pub fn namespaced(tag: &str) -> String {
    match (namespace(), tag.strip_prefix(OWN_NAMESPACE).and_then(|t| t.strip_prefix('/'))) {
        (Some(ns), Some(rest)) => format!("{ns}/{rest}"),
        _ => tag.to_string(),
    }
}

/// The labels every image the project makes carries: managed, and the namespace it was made under.
fn own_labels() -> Vec<(String, String)> {
    let mut labels = vec![(LABEL.to_string(), "true".to_string())];
    labels.extend(namespace().map(|ns| (policy::labels::IMAGE_NAMESPACE.to_string(), ns)));
    labels
}

/// Unprivileged user the images run as (`nobody`).
pub const RUN_AS: &str = "65534:65534";

/// One of the project's images.
#[derive(Debug, Clone)]
pub struct ScratchImage {
    /// `containerlabs/<package>:<version>` - a fixed tag, never `latest`.
    pub tag: String,
    pub package: String,
    /// The package's binary that becomes `/app`.
    pub bin: String,
    /// Files and directories to copy into the image: (source, destination).
    pub files: Vec<(PathBuf, String)>,
    /// Empty directories owned by the run-as user (for volumes).
    pub writable_dirs: Vec<String>,
    /// Defaults, as environment variables (flags given to `docker run` still override them).
    pub env: Vec<(String, String)>,
    pub expose: Vec<u16>,
    /// `HEALTHCHECK CMD` of the image, as its JSON list (the binary's own check: no shell here).
    pub healthcheck: Option<&'static str>,
}

/// The project's images, as `cargo xtask images` builds them: the course's ready images. The
/// site's image holds the course's own page (`images/static-site/site`), not a lab's answer: the
/// student repository has no answers to build it from.
pub fn catalogue(root: &Path) -> Vec<ScratchImage> {
    vec![
        ScratchImage {
            tag: namespaced("containerlabs/static-site:0.1.0"),
            package: "static-site".into(),
            bin: "static-site".into(),
            files: vec![(root.join("images/static-site/site"), "site".into())],
            writable_dirs: vec![],
            env: vec![("SITE_ROOT".into(), "/site".into()), ("PORT".into(), "8080".into())],
            expose: vec![8080],
            healthcheck: None,
        },
        ScratchImage {
            tag: namespaced("containerlabs/app-port:0.1.0"),
            package: "app-port".into(),
            bin: "app-port".into(),
            files: vec![],
            writable_dirs: vec!["data".into()],
            env: vec![("PORT".into(), "3000".into()), ("DATA_FILE".into(), "/data/messages.jsonl".into())],
            expose: vec![3000],
            healthcheck: None,
        },
        ScratchImage {
            tag: namespaced("containerlabs/portfolio:0.1.0"),
            package: "web-db".into(),
            bin: "portfolio".into(),
            files: vec![],
            writable_dirs: vec![],
            env: vec![("PORT".into(), "5000".into())],
            expose: vec![5000],
            healthcheck: Some(r#"["/app", "--healthcheck"]"#),
        },
    ]
}

/// The cargo profile the course's programs are built with for the grader (see `Cargo.toml`).
pub const COURSE_PROFILE: &str = "course";

/// Builds `package`'s binary `bin` statically; returns its path.
pub fn static_binary(root: &Path, package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    Ok(static_binaries(root, &[(package, bin)])?.remove(0))
}

/// Builds binaries (`(package, bin)`) statically, in one cargo run so they compile side by side;
/// returns their paths, in order.
pub fn static_binaries(root: &Path, wanted: &[(&str, &str)]) -> anyhow::Result<Vec<PathBuf>> {
    // Beside the grader's other builds: under CARGO_TARGET_DIR when it is set.
    let target_dir = crate::target_dir(root).join("static");
    let names: Vec<String> = wanted.iter().map(|(package, bin)| format!("{bin} ({package})")).collect();
    crate::progress::say(format!("building {} as static binaries ...", names.join(", ")));
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--quiet", "--profile", COURSE_PROFILE, "--target", STATIC_TARGET]);
    for (package, bin) in wanted {
        command.args(["-p", package, "--bin", bin]);
    }
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the static build of {} failed (cargo's messages are above)", names.join(", "));
    }
    Ok(wanted.iter().map(|(_, bin)| static_binary_path(root, bin)).collect())
}

/// Where [`static_binaries`] puts `bin`.
pub fn static_binary_path(root: &Path, bin: &str) -> PathBuf {
    crate::target_dir(root).join("static").join(STATIC_TARGET).join(COURSE_PROFILE).join(bin)
}

/// Whether a build ran or a cached image was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    Fresh,
    Cached,
}

/// Builds (or reuses) `image` from `binary`.
pub async fn build(engine: &Engine, image: &ScratchImage, binary: &Path) -> anyhow::Result<Built> {
    build_from_context(engine, &image.tag, build_context(image, binary)?, &BTreeMap::new()).await
}

/// Builds `tag` from a tar build context, unless an image with that tag was built from the same
/// bytes; `extra_labels` (a run's, for an image of a submission's files) go on the image too.
pub async fn build_from_context(
    engine: &Engine,
    tag: &str,
    context: Vec<u8>,
    extra_labels: &BTreeMap<String, String>,
) -> anyhow::Result<Built> {
    let hash = format!("{:016x}", fnv1a(&context));
    if let Ok(existing) = engine.docker.inspect_image(tag).await {
        let labels = existing.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get(INPUT_LABEL) == Some(&hash) {
            return Ok(Built::Cached);
        }
    }
    crate::progress::say(format!("building image {tag} ..."));
    let own = own_labels();
    let mut labels: HashMap<&str, &str> = own.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    labels.insert(INPUT_LABEL, hash.as_str());
    labels.extend(extra_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    let mut progress = engine.docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = progress.next().await {
        let info = item.with_context(|| format!("building {tag} failed"))?;
        if let Some(detail) = info.error_detail {
            bail!("building {tag} failed: {}", detail.message.unwrap_or_default());
        }
        if let Some(line) = info.stream.as_deref().map(str::trim).filter(|l| l.starts_with("Step ")) {
            crate::progress::say(format!("  {line}"));
        }
    }
    Ok(Built::Fresh)
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
        let mut catalogue = parse_catalogue(include_str!("../../../labs/images.toml"))
            .expect("labs/images.toml is checked by the tests");
        catalogue.base.tag = namespaced(&catalogue.base.tag);
        catalogue.toolbox.tag = namespaced(&catalogue.toolbox.tag);
        for stand_in in &mut catalogue.stand_ins {
            stand_in.tag = namespaced(&stand_in.tag);
        }
        catalogue
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

/// Where images that are not the project's own come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ImageSource {
    /// Use the image when it is here, else pull it, else (for an official image) build its stand-in.
    #[default]
    Auto,
    /// Use the image when it is here, else pull it; never build a stand-in.
    Pull,
    /// Never pull: build the stand-in of every official image.
    Build,
}

/// Imports the Debian base unless it is there already. Needs root and debootstrap (installed if missing).
pub async fn debian_base(engine: &Engine) -> anyhow::Result<Built> {
    if engine.docker.inspect_image(debian_base_tag()).await.is_ok() {
        return Ok(Built::Cached);
    }
    let have_debootstrap =
        Command::new("sh").args(["-c", "command -v debootstrap"]).output().is_ok_and(|o| o.status.success());
    if !have_debootstrap {
        crate::progress::say("installing debootstrap from Debian's packages ...");
        let status = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq debootstrap >/dev/null"])
            .status()?;
        if !status.success() {
            bail!("the Debian base needs debootstrap (apt-get install debootstrap, as root)");
        }
    }
    let dir = tempfile::Builder::new().prefix("clabs-debootstrap-").tempdir_in("/var/tmp")?;
    let rootfs = dir.path().join("rootfs");
    crate::progress::say("making the Debian base with debootstrap (about half a minute) ...");
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run debootstrap")?;
    if !status.success() {
        bail!("debootstrap failed (it needs root and Debian's package mirror)");
    }
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["-c", "."])
        .output()
        .context("cannot archive the root file system")?;
    if !tar.status.success() {
        bail!("archiving the debootstrap root file system failed");
    }
    let (repo, tag) = debian_base_tag().split_once(':').expect("tagged");
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(
            own_labels()
                .into_iter()
                .map(|(key, value)| format!("LABEL {key}={value}"))
                .chain(["CMD [\"bash\"]".to_string()])
                .collect(),
        )
        .build();
    let mut progress = engine.docker.create_image(Some(options), Some(bollard::body_full(tar.stdout.into())), None);
    while let Some(item) = progress.next().await {
        let info = item.context("importing the Debian base failed")?;
        if let Some(detail) = info.error_detail {
            bail!("importing the Debian base failed: {}", detail.message.unwrap_or_default());
        }
    }
    Ok(Built::Fresh)
}

/// Builds a stand-in from `images/<dir>/` on the Debian base (rebuilt when its files or the base change).
pub async fn stand_in(engine: &Engine, root: &Path, tag: &str, dir: &str) -> anyhow::Result<Built> {
    if tag == debian_base_tag() {
        return debian_base(engine).await;
    }
    debian_base(engine).await?;
    let base_id = engine.docker.inspect_image(debian_base_tag()).await?.id.unwrap_or_default();
    let source = root.join("images").join(dir);
    let mut context = BuildContext::new();
    let mut add = |path: &str, bytes: &[u8], mode: u32| context.add(path, bytes, mode);
    add(".base-image-id", base_id.as_bytes(), 0o644)?;
    for file in walk(&source)? {
        let relative = file.strip_prefix(&source).expect("walked under source").display().to_string();
        let executable = relative.ends_with(".sh");
        let mut bytes = std::fs::read(&file)?;
        if relative == "Dockerfile" && namespace().is_some() {
            // Built on the base of the namespace in use.
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<String> = text
                .lines()
                .map(|l| l.strip_prefix("FROM ").map_or(l.to_string(), |image| format!("FROM {}", namespaced(image))))
                .collect();
            bytes = (lines.join("\n") + "\n").into_bytes();
        }
        add(&relative, &bytes, if executable { 0o755 } else { 0o644 })?;
    }
    build_from_context(engine, tag, context.finish()?, &BTreeMap::new()).await
}

/// Builds (or reuses) the toolbox from `images/toolbox/`.
pub async fn toolbox(engine: &Engine, root: &Path) -> anyhow::Result<Built> {
    let _lock = BuildLock::acquire(root)?;
    let toolbox = &catalogue_of_images().toolbox;
    stand_in(engine, root, &toolbox.tag, &toolbox.dir).await
}

/// Held while this process makes images: another grader process (a batch's other job, a second
/// `check --up`) waits for it instead of building the same image at the same time (two builds of
/// one tag leave a dangling image behind). An advisory `flock` on a file in the grader's target
/// folder; the kernel lets it go when the process ends, however it ends.
#[derive(Debug)]
pub struct BuildLock(#[allow(dead_code)] std::fs::File);

impl BuildLock {
    pub fn acquire(root: &Path) -> anyhow::Result<BuildLock> {
        use std::os::fd::AsRawFd;
        let dir = crate::target_dir(root).join("clabs");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("images.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        loop {
            #[allow(unsafe_code)]
            // SAFETY: flock(2) on a descriptor this function owns; it touches no memory.
            let done = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0;
            if done {
                return Ok(BuildLock(file));
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
}

/// Makes sure every image in `tags` exists. The project's own (see [`catalogue`]) are built
/// from the course's code and files (`root`, never a submission's). Stand-in tags are built from
/// `root`; any other image is used when it is here and otherwise pulled (unless `source` is
/// [`ImageSource::Build`]). An official image with a stand-in that cannot be pulled (no registry
/// answers) is replaced by its stand-in (unless `source` is [`ImageSource::Pull`]). The returned
/// pairs (named image, image to use instead) are for the caller to put in the command lines.
pub async fn ensure_tags(
    engine: &Engine,
    root: &Path,
    tags: &[String],
    source: ImageSource,
) -> anyhow::Result<Vec<(String, String)>> {
    ensure(engine, root, tags, source, false).await
}

/// How many stand-ins (and the toolbox) are built at once: their `apt-get` downloads and unpacks
/// overlap. `CLABS_IMAGE_JOBS` overrides it (1: one after another, to compare).
pub fn builds_at_once() -> usize {
    const AT_ONCE: usize = 3;
    std::env::var("CLABS_IMAGE_JOBS").ok().and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(AT_ONCE)
}

/// [`ensure_tags`], and the sandbox's toolbox too when `toolbox`. The stand-ins to build are
/// built [`builds_at_once`] at a time, once the Debian base they share is there.
pub async fn ensure(
    engine: &Engine,
    root: &Path,
    tags: &[String],
    source: ImageSource,
    toolbox: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let _lock = BuildLock::acquire(root)?;
    let mut replaced = Vec::new();
    // (tag, folder) of each stand-in to make, each once, in order.
    let mut builds: Vec<(String, String)> = Vec::new();
    let later = |builds: &mut Vec<(String, String)>, tag: &str, dir: &str| {
        if !builds.iter().any(|(t, _)| t == tag) {
            builds.push((tag.to_string(), dir.to_string()));
        }
    };
    if toolbox {
        let toolbox = &catalogue_of_images().toolbox;
        later(&mut builds, &toolbox.tag, &toolbox.dir);
    }
    // Once a pull failed for want of a network, the registry counts as unreachable for this run.
    let mut unreachable: Option<String> = None;
    for tag in tags {
        let stand_in_for = stand_ins().iter().find(|s| s.official == *tag);
        if let Some(image) = catalogue(root).into_iter().find(|i| &i.tag == tag) {
            let binary = static_binary(root, &image.package, &image.bin)?;
            build(engine, &image, &binary).await?;
        } else if let Some(s) = stand_ins().iter().find(|s| s.tag == *tag) {
            later(&mut builds, &s.tag, &s.dir);
        } else if let (ImageSource::Build, Some(s)) = (source, stand_in_for) {
            later(&mut builds, &s.tag, &s.dir);
            replaced.push((tag.clone(), s.tag.clone()));
        } else if engine.docker.inspect_image(tag).await.is_ok() {
            continue;
        } else if source == ImageSource::Build {
            bail!("image {tag} is not here and this project has no stand-in for it: docker pull {tag} (or leave out --images build)");
        } else {
            let why = match &unreachable {
                Some(why) => why.clone(),
                None => {
                    let Err(why) = pull(engine, tag).await else { continue };
                    let why = why.to_string();
                    crate::progress::say(format!("cannot pull {tag}: {why}"));
                    let offline =
                        ["dial tcp", "no such host", "connection refused", "i/o timeout", "handshake timeout"];
                    if offline.iter().any(|o| why.contains(o)) {
                        unreachable = Some(why.clone());
                    }
                    why
                }
            };
            match stand_in_for {
                Some(s) if source == ImageSource::Auto => {
                    crate::progress::say(format!(
                        "{tag}: no registry answered; using the stand-in {} (built from Debian's packages)",
                        s.tag
                    ));
                    later(&mut builds, &s.tag, &s.dir);
                    replaced.push((tag.clone(), s.tag.clone()));
                }
                Some(_) => bail!("cannot pull {tag}: {why} (--images auto or build uses this project's stand-in)"),
                None => bail!("cannot pull {tag}: {why} (build or load it, then run again)"),
            }
        }
    }
    if !builds.is_empty() {
        debian_base(engine).await?;
        let built: Vec<anyhow::Result<Built>> = futures_util::stream::iter(&builds)
            .map(|(tag, dir)| stand_in(engine, root, tag, dir))
            .buffer_unordered(builds_at_once())
            .collect()
            .await;
        built.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    }
    Ok(replaced)
}

/// Pulls `tag`, showing how many layers are done; the engine's error in one line when it fails.
pub async fn pull(engine: &Engine, tag: &str) -> anyhow::Result<()> {
    let (image, version) = tag.rsplit_once(':').filter(|(_, v)| !v.contains('/')).unwrap_or((tag, "latest"));
    let options =
        bollard::query_parameters::CreateImageOptionsBuilder::default().from_image(image).tag(version).build();
    let mut progress = engine.docker.create_image(Some(options), None, None);
    let (mut layers, mut done) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    let mut announced = false;
    while let Some(item) = progress.next().await {
        let info = item.map_err(|e| anyhow::anyhow!("{}", one_line(&e.to_string())))?;
        if let Some(detail) = info.error_detail {
            bail!("{}", one_line(&detail.message.unwrap_or_default()));
        }
        if !announced {
            crate::progress::say(format!("pulling {tag} ..."));
            announced = true;
        }
        if let (Some(id), Some(status)) = (info.id, info.status) {
            layers.insert(id.clone());
            if status == "Pull complete" || status == "Already exists" {
                done.insert(id);
                crate::progress::say(format!("  {tag}: {} of {} layers", done.len(), layers.len()));
            }
        }
    }
    engine
        .docker
        .inspect_image(tag)
        .await
        .map(|_| ())
        .map_err(|_| anyhow::anyhow!("the engine reported no error but has no {tag}"))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The Dockerfile for an image.
fn dockerfile(image: &ScratchImage) -> String {
    let mut lines = vec!["FROM scratch".to_string(), "COPY app /app".to_string()];
    for (_, destination) in &image.files {
        lines.push(format!("COPY {destination} /{destination}"));
    }
    for dir in &image.writable_dirs {
        lines.push(format!("COPY --chown={RUN_AS} {dir} /{dir}"));
        lines.push(format!("VOLUME /{dir}"));
    }
    for port in &image.expose {
        lines.push(format!("EXPOSE {port}"));
    }
    for (name, value) in &image.env {
        lines.push(format!("ENV {name}={value}"));
    }
    if let Some(check) = image.healthcheck {
        lines.push(format!("HEALTHCHECK --interval=5s --timeout=3s --start-period=120s CMD {check}"));
    }
    lines.push(format!("USER {RUN_AS}"));
    lines.push("ENTRYPOINT [\"/app\"]".to_string());
    lines.join("\n") + "\n"
}

/// A build context being assembled: a tar archive whose entries have fixed metadata (no mtime, no
/// owner), so equal inputs give equal bytes and equal cache hashes.
struct BuildContext(tar::Builder<Vec<u8>>);

impl BuildContext {
    fn new() -> BuildContext {
        BuildContext(tar::Builder::new(Vec::new()))
    }

    fn add(&mut self, path: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        self.0.append_data(&mut header, path, bytes)?;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<Vec<u8>> {
        Ok(self.0.into_inner()?)
    }
}

/// The build context of a scratch image.
fn build_context(image: &ScratchImage, binary: &Path) -> anyhow::Result<Vec<u8>> {
    let mut context = BuildContext::new();
    let mut add = |path: &str, bytes: &[u8], mode: u32| context.add(path, bytes, mode);
    add("Dockerfile", dockerfile(image).as_bytes(), 0o644)?;
    let app = std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    add("app", &app, 0o755)?;
    for (source, destination) in &image.files {
        for entry in walk(source)? {
            let relative = entry.strip_prefix(source).expect("walked under source");
            let bytes = std::fs::read(&entry).with_context(|| format!("cannot read {}", entry.display()))?;
            add(&format!("{destination}/{}", relative.display()), &bytes, 0o644)?;
        }
    }
    for dir in &image.writable_dirs {
        add(&format!("{dir}/.keep"), b"", 0o644)?;
    }
    context.finish()
}

/// Regular files under `dir`, sorted (so the archive is the same every time). Symlinks are not
/// followed: a link in a submission's site must not put a file of the grader's machine in an image.
fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
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

/// FNV-1a, 64 bit: a stable hash for cache keys (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_run_unprivileged_from_scratch() {
        let root = crate::workspace_root();
        let images = catalogue(&root);
        expect_test::expect![[r#"
            FROM scratch
            COPY app /app
            COPY --chown=65534:65534 data /data
            VOLUME /data
            EXPOSE 3000
            ENV PORT=3000
            ENV DATA_FILE=/data/messages.jsonl
            USER 65534:65534
            ENTRYPOINT ["/app"]
        "#]]
        .assert_eq(&dockerfile(&images[1]));
        assert!(images.iter().all(|i| !i.tag.ends_with(":latest")));
    }

    #[test]
    fn equal_inputs_give_equal_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("app");
        std::fs::write(&binary, b"binary").unwrap();
        let image = &catalogue(&crate::workspace_root())[0];
        let first = build_context(image, &binary).unwrap();
        assert_eq!(first, build_context(image, &binary).unwrap());
        std::fs::write(&binary, b"changed").unwrap();
        assert_ne!(fnv1a(&first), fnv1a(&build_context(image, &binary).unwrap()));
    }
}
