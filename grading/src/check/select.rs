//! Services picked by what they are, never by their names: a service (in a compose file) or a
//! container (of a Compose project) has a role when its image belongs to one of the role's image
//! families - `mariadb:10.11`, `bitnami/mariadb:11`, the stand-in `containerlabs/mariadb:10.11-standin`
//! are all `mariadb`. A student names services as they like; the grader finds them anyway.
//!
//! ```toml
//! select = [{ role = "database", images = "{database_images}" }]   # database_images = "mariadb mysql"
//! ```

use crate::vars::Vars;
use serde::Deserialize;

/// One role: its name (for messages) and its image families.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// What they are, in the student's words: "database", "WordPress", "front door".
    pub role: String,
    /// Image families that make a service this role, separated by spaces or commas ("mariadb mysql").
    pub images: String,
}

impl Select {
    /// The families, with variables expanded.
    pub fn families(&self, vars: &Vars) -> Vec<String> {
        vars.expand(&self.images)
            .split([' ', ','])
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect()
    }

    /// Whether `image` runs this role.
    pub fn matches(&self, image: &str, vars: &Vars) -> bool {
        let family = family(image);
        self.families(vars).contains(&family)
    }

    /// Whether a service that runs these image families (see `compose::Service::runs`) has
    /// this role.
    pub fn matches_any(&self, runs: &[String], vars: &Vars) -> bool {
        let families = self.families(vars);
        runs.iter().any(|family| families.contains(family))
    }

    /// "a database image (mariadb, mysql)", for messages.
    pub fn describe(&self, vars: &Vars) -> String {
        format!("a {} image ({})", self.role, self.families(vars).join(", "))
    }

    pub(crate) fn strings(&self) -> Vec<&str> {
        vec![self.role.as_str(), self.images.as_str()]
    }
}

/// The family of an image reference (see [`policy::image_family`]).
pub fn family(image: &str) -> String {
    policy::image_family(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_match_their_families() {
        let mut vars = Vars::new();
        vars.set("database_images", "mariadb, mysql");
        let database = Select { role: "database".into(), images: "{database_images}".into() };
        assert!(database.matches("mysql:8.0", &vars));
        assert!(!database.matches("wordpress:6.1-apache", &vars));
        assert_eq!(database.describe(&vars), "a database image (mariadb, mysql)");
    }
}
