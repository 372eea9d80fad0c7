//! The one reaper: removes everything carrying a label - containers (with their anonymous
//! volumes), then networks, then volumes, then images - one engine call at a time, each under a
//! deadline.
//!
//! One at a time on purpose: dockerd 20.10 before 20.10.27 (Debian bookworm ships 20.10.24) can
//! deadlock when endpoints leave one network concurrently (moby/moby#46661), and then removals
//! never return. A call that misses its deadline means the engine is stuck: the reaper stops
//! there with one error that says what to do, instead of waiting on every object.
//!
//! Every cleanup in the project goes through [`reap`]: a grading run (by its run label), `cargo
//! xtask clean` (by the project's label), `stack down --volumes` (by the Compose project's label),
//! runs whose grader died ([`reap_orphans`]) and the tests.

use crate::labels::{Owner, RunId, OWNER, RUN};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptions,
};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// How long one removal may take before the engine counts as stuck.
pub const CALL_DEADLINE: Duration = Duration::from_secs(60);

/// What [`reap`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    pub images: usize,
}

impl Removed {
    pub fn total(&self) -> usize {
        self.containers + self.networks + self.volumes + self.images
    }

    fn add(&mut self, other: Removed) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
        self.images += other.images;
    }
}

/// Why a reap did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    #[error(
        "the Docker engine did not finish {what} within {} s: it is stuck (dockerd 20.10 before 20.10.27 can \
         deadlock removing containers, moby/moby#46661); restart dockerd, then run `cargo xtask clean`",
        CALL_DEADLINE.as_secs()
    )]
    Stuck { what: String },
    #[error("the Docker engine could not {what}: {source}")]
    Engine {
        what: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("{left} still carry {label} after removing them: {names}")]
    Left { label: String, left: usize, names: String },
}

/// One engine call under [`CALL_DEADLINE`]; a 404 (gone already) counts as done.
async fn call<T>(
    future: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    what: String,
) -> Result<bool, ReapError> {
    match tokio::time::timeout(CALL_DEADLINE, future).await {
        Err(_) => Err(ReapError::Stuck { what }),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => Ok(false),
        Ok(Err(source)) => Err(ReapError::Engine { what, source }),
    }
}

/// A listing under the deadline too (a deadlocked dockerd may still answer pings, not lists).
async fn list<T>(
    future: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    what: &str,
) -> Result<T, ReapError> {
    match tokio::time::timeout(CALL_DEADLINE, future).await {
        Err(_) => Err(ReapError::Stuck { what: format!("listing {what}") }),
        Ok(Ok(found)) => Ok(found),
        Ok(Err(source)) => Err(ReapError::Engine { what: format!("list {what}"), source }),
    }
}

/// What carries one label, by kind: (id, name) pairs.
#[derive(Debug, Default)]
struct Labelled {
    containers: Vec<(String, String)>,
    networks: Vec<(String, String)>,
    volumes: Vec<String>,
    images: Vec<(String, String)>,
}

impl Labelled {
    /// Lists everything carrying `label` (images only with `images`).
    async fn list(docker: &Docker, label: &str, images: bool) -> Result<Labelled, ReapError> {
        let filters: HashMap<&str, Vec<&str>> = [("label", vec![label])].into_iter().collect();
        let mut found = Labelled::default();
        let containers = list(
            docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build())),
            "containers",
        )
        .await?;
        for container in containers {
            let Some(id) = container.id else { continue };
            let name = container.names.and_then(|n| n.into_iter().next()).unwrap_or_else(|| id.clone());
            found.containers.push((id, name.trim_start_matches('/').to_string()));
        }
        let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
        for network in list(docker.list_networks(Some(options)), "networks").await? {
            if let Some(id) = network.id {
                found.networks.push((id, network.name.unwrap_or_default()));
            }
        }
        let options = ListVolumesOptionsBuilder::default().filters(&filters).build();
        let volumes = list(docker.list_volumes(Some(options)), "volumes").await?;
        found.volumes = volumes.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect();
        if images {
            let options = ListImagesOptionsBuilder::default().filters(&filters).build();
            for image in list(docker.list_images(Some(options)), "images").await? {
                let name = image.repo_tags.first().cloned().unwrap_or_else(|| image.id.clone());
                found.images.push((image.id, name));
            }
        }
        Ok(found)
    }

    /// "kind name" for each, for messages.
    fn names(&self) -> Vec<String> {
        let named = |kind: &str, items: &[(String, String)]| -> Vec<String> {
            items.iter().map(|(_, name)| format!("{kind} {name}")).collect()
        };
        let mut all = named("container", &self.containers);
        all.extend(named("network", &self.networks));
        all.extend(self.volumes.iter().map(|v| format!("volume {v}")));
        all.extend(named("image", &self.images));
        all
    }
}

/// Removes every container, network and volume carrying `label` (`key` or `key=value`), and with
/// `images` every image too; nothing without it is touched. A container is force-removed with
/// its anonymous volumes. Then lists again: anything still there is an error.
pub async fn reap(docker: &Docker, label: &str, images: bool) -> Result<Removed, ReapError> {
    let found = Labelled::list(docker, label, images).await?;
    let mut removed = Removed::default();
    for (id, name) in &found.containers {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if call(docker.remove_container(id, Some(options)), format!("removing container {name}")).await? {
            removed.containers += 1;
        }
    }
    for (id, name) in &found.networks {
        if call(docker.remove_network(id), format!("removing network {name}")).await? {
            removed.networks += 1;
        }
    }
    for name in &found.volumes {
        let what = format!("removing volume {name}");
        if call(docker.remove_volume(name, None::<RemoveVolumeOptions>), what).await? {
            removed.volumes += 1;
        }
    }
    for (id, name) in &found.images {
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        if call(docker.remove_image(id, Some(options), None), format!("removing image {name}")).await? {
            removed.images += 1;
        }
    }
    let left = leftovers(docker, label, images).await?;
    if !left.is_empty() {
        return Err(ReapError::Left { label: label.to_string(), left: left.len(), names: left.join(", ") });
    }
    Ok(removed)
}

/// What still carries `label`, as "kind name".
pub async fn leftovers(docker: &Docker, label: &str, images: bool) -> Result<Vec<String>, ReapError> {
    Ok(Labelled::list(docker, label, images).await?.names())
}

/// Reaps every run whose owner is a process of this machine that is gone (a grader that was
/// killed, a test binary that ended mid-test); returns what was removed per run. Runs of other
/// machines and detached runs are left alone.
pub async fn reap_orphans(docker: &Docker) -> Result<Vec<(RunId, Removed)>, ReapError> {
    let mut owners: BTreeMap<RunId, Owner> = BTreeMap::new();
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![OWNER])].into_iter().collect();
    let mut note = |labels: Option<HashMap<String, String>>| {
        let labels = labels.unwrap_or_default();
        if let (Some(run), Some(owner)) =
            (labels.get(RUN).and_then(|r| RunId::parse(r)), labels.get(OWNER).and_then(|o| Owner::parse(o)))
        {
            owners.insert(run, owner);
        }
    };
    let containers = list(
        docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build())),
        "containers",
    )
    .await?;
    containers.into_iter().for_each(|c| note(c.labels));
    let networks =
        list(docker.list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build())), "networks")
            .await?;
    networks.into_iter().for_each(|n| note(n.labels));
    let volumes =
        list(docker.list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filters).build())), "volumes")
            .await?;
    volumes.volumes.unwrap_or_default().into_iter().for_each(|v| note(Some(v.labels)));
    let images =
        list(docker.list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build())), "images").await?;
    images.into_iter().for_each(|i| note(Some(i.labels)));
    let mut reaped = Vec::new();
    for (run, owner) in owners {
        if owner.alive() == Some(false) {
            let mut removed = Removed::default();
            removed.add(reap(docker, &run.selector(), true).await?);
            reaped.push((run, removed));
        }
    }
    Ok(reaped)
}
