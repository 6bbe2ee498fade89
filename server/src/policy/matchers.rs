//! What a rule's lists match: resource patterns (a normalised id with `*` globs), names,
//! abilities and node URLs, each `*` for any.

use std::collections::BTreeSet;
use std::fmt;

use super::sigs::RequestedResource;
use crate::signing::{self, LitAbility, ResourcePrefix};

/// A resource pattern: a prefix and a normalised id glob (`*` matches any run of characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePattern {
    pub(super) prefix: ResourcePrefix,
    id: String,
}

impl ResourcePattern {
    pub(super) fn parse(s: &str) -> Result<Self, String> {
        let (prefix, id) = s
            .split_once("://")
            .ok_or_else(|| format!("resource pattern {s:?} is not PREFIX://ID (e.g. lit-pkp://*)"))?;
        let prefix = signing::parse_prefix(prefix).map_err(|e| e.to_string())?;
        if id.is_empty() {
            return Err(format!("resource pattern {s:?} has an empty id (use * for all)"));
        }
        let id = signing::normalize_id(prefix, id).map_err(|e| format!("resource pattern {s:?}: {e}"))?;
        Ok(Self { prefix, id })
    }

    fn all_stars(&self) -> bool {
        self.id.bytes().all(|b| b == b'*')
    }

    /// Allow semantics: the pattern covers everything the requested resource names.
    pub(super) fn covers(&self, r: &RequestedResource) -> bool {
        if self.prefix != r.prefix {
            return false;
        }
        if r.id == "*" {
            return self.all_stars();
        }
        glob(&self.id, &r.id)
    }

    /// Deny semantics: the requested resource names something the pattern names. A requested
    /// wildcard names everything of its prefix.
    pub(super) fn touches(&self, r: &RequestedResource) -> bool {
        self.prefix == r.prefix && (r.id == "*" || glob(&self.id, &r.id))
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.prefix.as_str(), self.id)
    }
}

/// `*`-only glob over bytes, iterative with backtracking to the last star.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Names a set: everything (`*`) or the listed names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NameSet {
    Any,
    Only(BTreeSet<String>),
}

impl NameSet {
    pub(super) fn contains(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => s.contains(name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum AbilitySet {
    Any,
    Only(BTreeSet<LitAbility>),
}

impl AbilitySet {
    pub(super) fn contains(&self, a: LitAbility) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => s.contains(&a),
        }
    }
}

/// Node URLs compared as scheme, host (lowercase) and port (default filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NodeSet {
    Any,
    Only(BTreeSet<String>),
}

/// The comparison form of a node URL: `scheme://host:port`, lowercase, default port explicit.
pub fn canonical_node(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
    let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}"))
}

impl NodeSet {
    pub(super) fn contains(&self, url: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(s) => canonical_node(url).is_some_and(|c| s.contains(&c)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_cases() {
        for (p, t, m) in [
            ("*", "abc", true),
            ("*", "*", true),
            ("Qm*", "QmXYZ", true),
            ("Qm*", "Qx", false),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*c", "c", true),
            ("a**", "a", true),
            ("abc", "abc", true),
            ("abc", "abcd", false),
        ] {
            assert_eq!(glob(p, t), m, "{p} {t}");
        }
    }
}
