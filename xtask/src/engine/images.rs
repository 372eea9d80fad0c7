//! Images without a registry: the project's own binaries, built statically and put in `FROM scratch`
//! images, labelled, and rebuilt only when their inputs change; and, through the `provision` crate
//! (which the launcher of `cargo xtask` uses too), the Debian base, the stand-ins and the toolbox.
//!
//! A static glibc build (`-C target-feature=+crt-static` for `x86_64-unknown-linux-gnu`) runs in an
//! empty image and still resolves other containers' names on a user-defined network. Each image
//! records a hash of everything that went into it (label [`INPUT_LABEL`]); an image whose label
//! matches is reused as it is.

use crate::engine::Engine;
use anyhow::{bail, Context};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use provision::images::{input_hash, own_labels, walk, BuildContext, Cli};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use provision::images::{
    builds_at_once, catalogue_of_images, debian_base_tag, parse_catalogue, stand_ins, toolbox_tag, Built,
};

/// The target a static build is made for.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The label holding the hash of an image's inputs.
pub use policy::labels::INPUT_HASH as INPUT_LABEL;
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
            tag: "containerlabs/static-site:0.1.0".into(),
            package: "static-site".into(),
            bin: "static-site".into(),
            files: vec![(root.join("images/static-site/site"), "site".into())],
            writable_dirs: vec![],
            env: vec![("SITE_ROOT".into(), "/site".into()), ("PORT".into(), "8080".into())],
            expose: vec![8080],
            healthcheck: None,
        },
        ScratchImage {
            tag: "containerlabs/app-port:0.1.0".into(),
            package: "app-port".into(),
            bin: "app-port".into(),
            files: vec![],
            writable_dirs: vec!["data".into()],
            env: vec![("PORT".into(), "3000".into()), ("DATA_FILE".into(), "/data/messages.jsonl".into())],
            expose: vec![3000],
            healthcheck: None,
        },
        ScratchImage {
            tag: "containerlabs/portfolio:0.1.0".into(),
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
    let hash = input_hash(&context);
    let existing = engine.docker.inspect_image(tag).await.ok();
    if let Some(existing) = &existing {
        let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
        if labels.and_then(|l| l.get(INPUT_LABEL)) == Some(&hash) {
            return Ok(Built::Cached);
        }
    }
    crate::progress::say(format!("building image {tag} ..."));
    // The image the tag names until this build replaces it.
    let before = existing.and_then(|e| e.id);
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
    // The image this build took the tag from, when it was the course's and nothing uses it.
    if extra_labels.is_empty() {
        let (cli, tag) = (cli(engine), tag.to_string());
        blocking(move || {
            provision::images::retire(&cli, &tag, before);
            Ok(())
        })
        .await?;
    }
    Ok(Built::Fresh)
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

/// The `docker` CLI on `engine` (the images of the `provision` crate are built with it).
fn cli(engine: &Engine) -> Cli {
    Cli::new(&engine.endpoint)
}

fn say(line: String) {
    crate::progress::say(line)
}

/// Imports the Debian base unless it is there already. Needs root and debootstrap (installed if
/// missing).
pub async fn debian_base(engine: &Engine) -> anyhow::Result<Built> {
    let cli = cli(engine);
    blocking(move || provision::images::debian_base(&cli, &say)).await
}

/// Builds a stand-in from `images/<dir>/` on the Debian base (rebuilt when its files or the base change).
pub async fn stand_in(engine: &Engine, root: &Path, tag: &str, dir: &str) -> anyhow::Result<Built> {
    let (cli, root, tag, dir) = (cli(engine), root.to_path_buf(), tag.to_string(), dir.to_string());
    blocking(move || provision::images::stand_in(&cli, &root, &tag, &dir, &say)).await
}

/// Builds (or reuses) the toolbox from `images/toolbox/`.
pub async fn toolbox(engine: &Engine, root: &Path) -> anyhow::Result<Built> {
    let (cli, root) = (cli(engine), root.to_path_buf());
    blocking(move || {
        let _lock = provision::images::build_lock(&root, &say)?;
        let toolbox = &catalogue_of_images().toolbox;
        provision::images::stand_in(&cli, &root, &toolbox.tag, &toolbox.dir, &say)
    })
    .await
}

/// Runs `work` (the CLI's builds, which wait) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await.context("an image build stopped")?
}

/// Held while this process makes images: another grader process (the launcher's prefetch, a
/// batch's other job, a second `check --up`) waits for it instead of building the same image at
/// the same time (two builds of one tag leave a dangling image behind).
pub async fn build_lock(root: &Path) -> anyhow::Result<provision::Lock> {
    let root = root.to_path_buf();
    blocking(move || provision::images::build_lock(&root, &say)).await
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

/// [`ensure_tags`], and the sandbox's toolbox too when `toolbox`. The stand-ins to build are
/// built [`builds_at_once`] at a time, once the Debian base they share is there.
pub async fn ensure(
    engine: &Engine,
    root: &Path,
    tags: &[String],
    source: ImageSource,
    toolbox: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let _lock = build_lock(root).await?;
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
    let (cli, root) = (cli(engine), root.to_path_buf());
    blocking(move || provision::images::stand_ins_at_once(&cli, &root, &builds, &say, &|_, _| ())).await?;
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
        assert_ne!(input_hash(&first), input_hash(&build_context(image, &binary).unwrap()));
    }
}
