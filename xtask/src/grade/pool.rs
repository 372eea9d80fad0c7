//! The engines a batch grades on (`cargo xtask grade --engine HOST --engine HOST ...`): one
//! queue of submissions, `--jobs` at once on each engine.
//!
//! Every engine must be on this machine: a sandbox run binds this machine's files (the
//! submission's copy, the course's tools, its proxy's socket) into the containers it starts, so
//! an engine elsewhere would not find them. Past one machine, shard the roster
//! (`--shard K/N`, one machine each) and merge the gradebooks (`--merge`).
//!
//! The images a lab's services need are made once, on the first engine (built or pulled as
//! `--images` says), and copied to each other engine that lacks them (`docker save | docker load`,
//! through the engines' APIs): a second engine is ready in seconds, not in the minutes of
//! building stand-ins again.

use crate::engine::images::{self, ImageSource};
use crate::engine::Engine;
use anyhow::{bail, Context};
use futures_util::StreamExt;
use std::path::Path;

/// Connects to every engine in `hosts` (`unix://` or `tcp://` on this machine). With none given,
/// a batch leaves the engine to each grading child, which finds the one the environment names.
pub async fn connect(hosts: &[String]) -> anyhow::Result<Vec<Engine>> {
    let mut engines: Vec<Engine> = Vec::new();
    for host in hosts {
        if !on_this_machine(host) {
            bail!(
                "engine {host} is on another machine: a sandbox run binds this machine's files into its containers; \
                 grade there with --shard K/N and merge the gradebooks with --merge"
            );
        }
        let engine = crate::engine::connect_to(host)
            .await
            .map_err(|why| anyhow::anyhow!("engine {why} (start it, or leave it out of --engine)"))?;
        let id = engine_id(&engine).await?;
        for other in &engines {
            if engine_id(other).await? == id {
                bail!("--engine {host} and --engine {} are the same engine: give each engine once", other.endpoint);
            }
        }
        engines.push(engine);
    }
    Ok(engines)
}

/// Whether `host` names an engine on this machine: a unix socket, or TCP to a loopback address.
pub fn on_this_machine(host: &str) -> bool {
    if host.starts_with("unix://") {
        return true;
    }
    let Some(rest) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(name, _)| name),
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Who the engine is: two endpoints of one engine would load it twice. Its ID alone is not
/// enough (daemons that share `/etc/docker` share it); with its data root, it is.
async fn engine_id(engine: &Engine) -> anyhow::Result<String> {
    let info =
        engine.docker.info().await.with_context(|| format!("engine {} did not say who it is", engine.endpoint))?;
    Ok(format!("{} {}", info.id.unwrap_or_default(), info.docker_root_dir.unwrap_or_default()))
}

/// The images `lab`'s selected steps start (their names after `vars`), and whether a command
/// service needs the sandbox's toolbox.
pub fn lab_images(selection: &crate::selection::Selection) -> (Vec<String>, bool) {
    let services = selection.lab().services_for(&selection.step_ids());
    let mut tags: Vec<String> =
        services.iter().flat_map(|s| s.images.iter()).map(|image| selection.vars.expand(image)).collect();
    tags.sort();
    tags.dedup();
    (tags, services.iter().any(|s| s.is_command()))
}

/// Makes the lab's images on the first engine and copies them to every other engine that lacks
/// them. Returns the tags that were made ready (the first engine's names).
pub async fn share_images(
    engines: &[Engine],
    grader: &Path,
    selection: &crate::selection::Selection,
    source: ImageSource,
) -> anyhow::Result<Vec<String>> {
    let Some((first, others)) = engines.split_first() else { return Ok(Vec::new()) };
    let (tags, toolbox) = lab_images(selection);
    let replaced = images::ensure(first, grader, &tags, source, toolbox).await?;
    let mut ready: Vec<String> = tags
        .iter()
        .map(|tag| replaced.iter().find(|(named, _)| named == tag).map_or(tag.clone(), |(_, used)| used.clone()))
        .collect();
    if toolbox {
        ready.push(images::toolbox_tag().to_string());
    }
    // The toolbox's and each stand-in's build is keyed on the Debian base's ID: the base goes
    // along, so the other engine finds them built from the same inputs and builds nothing.
    if toolbox || ready.iter().any(|tag| images::stand_ins().iter().any(|s| s.tag == *tag)) {
        ready.push(images::debian_base_tag().to_string());
    }
    ready.sort();
    ready.dedup();
    for engine in others {
        let mut missing = Vec::new();
        for tag in &ready {
            if engine.docker.inspect_image(tag).await.is_err() {
                missing.push(tag.clone());
            }
        }
        if !missing.is_empty() {
            copy_images(first, engine, &missing).await?;
        }
    }
    Ok(ready)
}

/// `docker save` from `from`, `docker load` into `to`, streamed (nothing on disk).
pub async fn copy_images(from: &Engine, to: &Engine, tags: &[String]) -> anyhow::Result<()> {
    eprintln!("copying {} to engine {} ...", tags.join(", "), to.endpoint);
    let names: Vec<&str> = tags.iter().map(String::as_str).collect();
    let archive = from.docker.export_images(&names);
    let options = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
    let mut progress = to.docker.import_image_stream(options, archive, None);
    while let Some(item) = progress.next().await {
        let info = item.with_context(|| format!("copying images to engine {} failed", to.endpoint))?;
        if let Some(detail) = info.error_detail {
            bail!("copying images to engine {} failed: {}", to.endpoint, detail.message.unwrap_or_default());
        }
    }
    for tag in tags {
        to.docker
            .inspect_image(tag)
            .await
            .with_context(|| format!("engine {} does not have {tag} after the copy", to.endpoint))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::on_this_machine;

    #[test]
    fn engines_on_this_machine() {
        for host in ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375"]
        {
            assert!(on_this_machine(host), "{host}");
        }
        for host in ["tcp://10.0.0.5:2375", "tcp://grader2:2376", "ssh://user@host", "npipe:////./pipe/docker"] {
            assert!(!on_this_machine(host), "{host}");
        }
    }
}
