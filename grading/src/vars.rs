//! Variables in rubric strings: `{site_port}` is replaced by the lab's value for `site_port`.
//!
//! Labs define defaults (`[lab.vars]` in the curriculum); users override them (`--var site_port=80`);
//! the runner adds its own (`submission`, `probe`). Only `{name}` where `name` is a lowercase
//! identifier is a placeholder, so regular expressions like `a{2,3}` pass through; `{{` is a literal `{`.

use std::collections::BTreeMap;

/// A set of named values for placeholder substitution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

/// Variables the runner defines itself; rubrics may use them without a lab defining them.
pub const BUILTIN: &[&str] = &["submission", "probe"];

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Replaces every `{name}` that names a defined variable; leaves other braces as they are.
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(stripped) = after.strip_prefix('{') {
                out.push('{');
                rest = stripped;
                continue;
            }
            match placeholder(after) {
                Some(name) if self.values.contains_key(name) => {
                    out.push_str(&self.values[name]);
                    rest = &after[name.len() + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The placeholder names used in `text` (identifiers between single braces).
/// `text` with every placeholder replaced by `x`: how a pattern that holds placeholders is checked
/// before their values are known (`{app_port}` would read as a repetition).
pub fn with_stand_ins(text: &str) -> String {
    let mut probe = text.to_string();
    for name in placeholders(text) {
        probe = probe.replace(&format!("{{{name}}}"), "x");
    }
    probe
}

pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        if let Some(name) = placeholder(after) {
            names.push(name);
            rest = &after[name.len() + 1..];
        } else {
            rest = after;
        }
    }
    names
}

/// `after` follows a `{`: returns the identifier if it is `ident}`.
fn placeholder(after: &str) -> Option<&str> {
    let close = after.find('}')?;
    let name = &after[..close];
    let mut chars = name.chars();
    let first = chars.next()?;
    let ok = (first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let mut vars = Vars::new();
        vars.set("site_port", "8080");
        vars.set("host", "127.0.0.1");
        assert_eq!(vars.expand(text), expected, "expanding {text:?}");
    }

    #[test]
    fn expansion() {
        check("http://{host}:{site_port}/", "http://127.0.0.1:8080/");
        check("no placeholders", "no placeholders");
        check("a{2,3}b", "a{2,3}b");
        check("{unknown} stays", "{unknown} stays");
        check("{{site_port}}", "{site_port}}");
        check("{Site_port}", "{Site_port}");
        check("trailing {", "trailing {");
        check("{site_port", "{site_port");
    }

    #[test]
    fn patterns_are_checked_with_stand_ins_for_their_placeholders() {
        assert_eq!(with_stand_ins("^PORT={app_port}$"), "^PORT=x$");
        assert_eq!(with_stand_ins("a{2,3}b {host}"), "a{2,3}b x");
        assert!(regex::Regex::new(&with_stand_ins("PORT=[\"']?{app_port}")).is_ok());
    }

    #[test]
    fn placeholder_names() {
        assert_eq!(placeholders("http://{host}:{site_port}/x{2}"), vec!["host", "site_port"]);
        assert_eq!(placeholders("{{literal}}"), Vec::<&str>::new());
    }
}
