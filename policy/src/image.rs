//! Image references: a pinned version, or a digest.

/// What is wrong with `image` as a pinned reference, if anything: no tag (which means `latest`),
/// the `latest` tag, or a tag that names no version (`apache`, `alpine`, `stable`: they move).
/// A digest (`name@sha256:...`, with or without a tag) pins the image exactly.
pub fn image_version_problem(image: &str) -> Option<String> {
    let image = image.trim();
    if let Some((_, digest)) = image.split_once('@') {
        let pinned = digest.split_once(':').is_some_and(|(algorithm, hex)| {
            !algorithm.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        return (!pinned).then(|| format!("{image} has a digest that is not algorithm:hex"));
    }
    // The tag follows the last ':' after the last '/' (a registry's port is not a tag).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        None => Some(format!("{image} has no tag (it means latest)")),
        Some((_, "")) => Some(format!("{image} has an empty tag")),
        Some((_, "latest")) => Some(format!("{image} uses latest")),
        Some((_, tag)) if !tag.chars().any(|c| c.is_ascii_digit()) => {
            Some(format!("{image}: the tag {tag} names no version (it moves)"))
        }
        Some(_) => None,
    }
}

/// The family of an image reference: the repository's last path component, without registry,
/// tag or digest, lower-case (`docker.io/library/MariaDB:10.11@sha256:..` -> `mariadb`): what the
/// image is, whoever built it (`bitnami/mariadb`, a stand-in `containerlabs/mariadb`).
pub fn image_family(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{image_family, image_version_problem};

    #[test]
    fn families_ignore_registry_path_tag_and_digest() {
        for (image, expected) in [
            ("mariadb:10.11", "mariadb"),
            ("bitnami/mariadb:11", "mariadb"),
            ("containerlabs/mariadb:10.11-standin", "mariadb"),
            ("clabs-run-0123456789ab/containerlabs/nginx:1.27-standin", "nginx"),
            ("localhost:5000/team/Redis:7@sha256:abc", "redis"),
            ("wordpress", "wordpress"),
        ] {
            assert_eq!(image_family(image), expected, "{image}");
        }
    }

    #[test]
    fn pinned_references() {
        for ok in [
            "mariadb:10.11",
            "wordpress:6.1-apache",
            "nextcloud:28-apache",
            "redis:7.0-alpine",
            "localhost:5000/x:1",
            "containerlabs/static-site:0.1.0",
            "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "redis:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(image_version_problem(ok), None, "{ok}");
        }
        for bad in ["mariadb", "mariadb:latest", "localhost:5000/x", "nextcloud:apache", "redis:alpine", "x@foo", "x:"]
        {
            assert!(image_version_problem(bad).is_some(), "{bad}");
        }
    }
}
