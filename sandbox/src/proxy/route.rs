//! Which Engine API endpoints a submission may call, and what each needs before it is forwarded.
//! Everything not listed is refused: the labs need containers, images, networks and volumes, and
//! nothing of swarm, plugins, secrets, system-wide prune, commit, load or tag.

use http::Method;

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Forwarded as it is (`/_ping`, `/version`, `/info`, image reads, pulls).
    Pass,
    /// A list whose `filters` get the run's label, so the submission sees only its own objects.
    List,
    /// `POST /containers/create`: judged, labelled, capped.
    ContainerCreate,
    /// A request about one container: it must be the run's (`write`: it changes something).
    Container {
        id: String,
        write: bool,
    },
    /// `POST /containers/{id}/exec`: the run's container, and no privileged exec.
    ExecCreate {
        container: String,
    },
    /// `POST /containers/{id}/update`: the run's container; resources capped.
    ContainerUpdate {
        id: String,
    },
    /// `/exec/{id}/...`: an exec of one of the run's containers.
    Exec {
        id: String,
    },
    /// An image by name (a read, or a removal that needs the run's own image).
    Image {
        name: String,
        delete: bool,
    },
    /// `POST /build`: query judged, tags and labels of the run.
    Build,
    NetworkCreate,
    /// A network: reads see the run's own and the predefined ones; removal needs the run's own.
    Network {
        id: String,
        write: bool,
    },
    /// `POST /networks/{id}/connect|disconnect`: the run's network and the run's container.
    NetworkConnect {
        id: String,
    },
    VolumeCreate,
    Volume {
        name: String,
        write: bool,
    },
    /// Not an endpoint the labs need: the message names it.
    Refuse(String),
}

/// The route of `method path` (the path without its `/v1.NN` prefix, percent-decoded).
pub(crate) fn classify(method: &Method, path: &str, query: &[(String, String)]) -> Route {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    let refuse = || Route::Refuse(format!("{method} {path}"));
    match segments.as_slice() {
        ["_ping"] if get => Route::Pass,
        ["version"] | ["info"] if get => Route::Pass,
        ["events"] if get => Route::List,
        ["containers", "json"] if get => Route::List,
        ["containers", "create"] if post => Route::ContainerCreate,
        ["containers", "prune"] => refuse(),
        ["containers", id] if *method == Method::DELETE => Route::Container { id: id.to_string(), write: true },
        ["containers", id, "exec"] if post => Route::ExecCreate { container: id.to_string() },
        ["containers", id, "update"] if post => Route::ContainerUpdate { id: id.to_string() },
        ["containers", id, "json" | "logs" | "top" | "stats" | "changes" | "export"] if get => {
            Route::Container { id: id.to_string(), write: false }
        }
        ["containers", id, "archive"] if get => Route::Container { id: id.to_string(), write: false },
        ["containers", id, "archive"] if *method == Method::PUT => Route::Container { id: id.to_string(), write: true },
        ["containers", id, "start" | "stop" | "restart" | "kill" | "pause" | "unpause" | "wait" | "resize" | "rename" | "attach"]
            if post =>
        {
            Route::Container { id: id.to_string(), write: true }
        }
        ["exec", id, "start" | "resize"] if post => Route::Exec { id: id.to_string() },
        ["exec", id, "json"] if get => Route::Exec { id: id.to_string() },
        ["images", "json"] if get => Route::Pass,
        ["images", "search"] if get => Route::Pass,
        ["images", "create"] if post => {
            // A pull; `fromSrc` imports an arbitrary file system as an image, which no lab needs.
            if query.iter().any(|(k, _)| k == "fromSrc") {
                Route::Refuse("POST /images/create?fromSrc (docker import)".into())
            } else {
                Route::Pass
            }
        }
        ["images", name @ .., "json" | "history"] if get && !name.is_empty() => {
            Route::Image { name: name.join("/"), delete: false }
        }
        ["images", name @ ..] if *method == Method::DELETE && !name.is_empty() => {
            Route::Image { name: name.join("/"), delete: true }
        }
        ["distribution", .., "json"] if get => Route::Pass,
        ["build"] if post => Route::Build,
        ["networks"] if get => Route::List,
        ["networks", "create"] if post => Route::NetworkCreate,
        ["networks", "prune"] => refuse(),
        ["networks", id] if get => Route::Network { id: id.to_string(), write: false },
        ["networks", id] if *method == Method::DELETE => Route::Network { id: id.to_string(), write: true },
        ["networks", id, "connect" | "disconnect"] if post => Route::NetworkConnect { id: id.to_string() },
        ["volumes"] if get => Route::List,
        ["volumes", "create"] if post => Route::VolumeCreate,
        ["volumes", "prune"] => refuse(),
        ["volumes", name] if get => Route::Volume { name: name.to_string(), write: false },
        ["volumes", name] if *method == Method::DELETE => Route::Volume { name: name.to_string(), write: true },
        _ => refuse(),
    }
}

/// `path` without a leading `/v1.NN` API version.
pub(crate) fn without_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else { return path };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let numeric = !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.');
    if numeric {
        &rest[end..]
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Route {
        classify(&method, without_version(path), &[])
    }

    #[test]
    fn the_labs_endpoints_and_nothing_else() {
        assert_eq!(route(Method::GET, "/v1.41/_ping"), Route::Pass);
        assert_eq!(route(Method::HEAD, "/_ping"), Route::Pass);
        assert_eq!(route(Method::GET, "/v1.41/containers/json"), Route::List);
        assert_eq!(route(Method::POST, "/v1.41/containers/create"), Route::ContainerCreate);
        assert_eq!(route(Method::POST, "/containers/abc/start"), Route::Container { id: "abc".into(), write: true });
        assert_eq!(route(Method::GET, "/containers/abc/json"), Route::Container { id: "abc".into(), write: false });
        assert_eq!(route(Method::DELETE, "/containers/abc"), Route::Container { id: "abc".into(), write: true });
        assert_eq!(route(Method::POST, "/containers/abc/exec"), Route::ExecCreate { container: "abc".into() });
        assert_eq!(route(Method::POST, "/exec/e1/start"), Route::Exec { id: "e1".into() });
        assert_eq!(
            route(Method::GET, "/v1.41/images/containerlabs/mariadb:10.11-standin/json"),
            Route::Image { name: "containerlabs/mariadb:10.11-standin".into(), delete: false }
        );
        assert_eq!(route(Method::DELETE, "/images/x:1"), Route::Image { name: "x:1".into(), delete: true });
        assert_eq!(route(Method::POST, "/build"), Route::Build);
        assert_eq!(route(Method::POST, "/networks/n1/connect"), Route::NetworkConnect { id: "n1".into() });
        assert_eq!(route(Method::GET, "/volumes/v1"), Route::Volume { name: "v1".into(), write: false });
        for (method, path) in [
            (Method::POST, "/v1.41/swarm/init"),
            (Method::GET, "/plugins"),
            (Method::POST, "/containers/prune"),
            (Method::POST, "/volumes/prune"),
            (Method::POST, "/images/prune"),
            (Method::POST, "/commit"),
            (Method::POST, "/images/load"),
            (Method::POST, "/images/x/tag"),
            (Method::POST, "/images/x/push"),
            (Method::POST, "/session"),
            (Method::POST, "/grpc"),
            (Method::POST, "/build/prune"),
            (Method::GET, "/system/df"),
            (Method::POST, "/secrets/create"),
            (Method::POST, "/auth"),
            (Method::GET, "/containers/abc/attach/ws"),
        ] {
            assert!(matches!(route(method.clone(), path), Route::Refuse(_)), "{method} {path}");
        }
        let import = classify(&Method::POST, "/images/create", &[("fromSrc".into(), "-".into())]);
        assert!(matches!(import, Route::Refuse(_)));
        assert_eq!(without_version("/version"), "/version");
        assert_eq!(without_version("/volumes/v1"), "/volumes/v1");
    }
}
