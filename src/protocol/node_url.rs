//! Lit node URLs: how a node is named in a sessionSigs map and in the signed `nodeAddress`, a
//! checked list of them, and the node's own comparison form of an address.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// A Lit node's URL, `http(s)://host:port`, kept exactly as given (it keys the map and is
/// signed as `nodeAddress`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeUrl(String);

/// A malformed node URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed node URL {url:?}: {reason} (expected http(s)://host:port)")]
pub struct NodeUrlError {
    /// The rejected text.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for NodeUrl {
    type Err = NodeUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| NodeUrlError { url: s.to_string(), reason };
        let uri: http::Uri = s.parse().map_err(|_| err("not a URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(err("scheme must be http or https")),
        }
        let authority = uri.authority().ok_or_else(|| err("no host"))?;
        if authority.host().is_empty() {
            return Err(err("no host"));
        }
        if authority.as_str().contains('@') {
            return Err(err("user info is not allowed"));
        }
        // A path (even "/") would end up in nodeAddress, which the node compares with host:port.
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") || s.ends_with('/') {
            return Err(err("no path, query or trailing slash allowed"));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(err("whitespace is not allowed"));
        }
        Ok(Self(s.to_string()))
    }
}

impl NodeUrl {
    /// The URL exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node list that cannot be used for a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeListError {
    /// No node at all.
    #[error("no node URLs given")]
    Empty,
    /// The same node twice: its map entry would be ambiguous.
    #[error("node URL given twice: {0}")]
    Duplicate(NodeUrl),
}

/// The nodes of one session: at least one, none twice, in the caller's order (the sessionSigs
/// map keeps it). Reads as a slice of [`NodeUrl`].
///
/// ```
/// use lit_session_signer::protocol::{NodeList, NodeListError, NodeUrl};
/// let a: NodeUrl = "https://127.0.0.1:7470".parse().unwrap();
/// let b: NodeUrl = "https://127.0.0.1:7471".parse().unwrap();
/// let nodes = NodeList::new(vec![a.clone(), b]).unwrap();
/// assert_eq!(nodes.len(), 2);
/// assert_eq!(NodeList::new(vec![a.clone(), a.clone()]), Err(NodeListError::Duplicate(a)));
/// assert_eq!(NodeList::new(Vec::new()), Err(NodeListError::Empty));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeList(Vec<NodeUrl>);

impl NodeList {
    /// Checks `nodes`: not empty, no node twice.
    pub fn new(nodes: Vec<NodeUrl>) -> Result<Self, NodeListError> {
        if nodes.is_empty() {
            return Err(NodeListError::Empty);
        }
        for (i, n) in nodes.iter().enumerate() {
            if nodes[..i].contains(n) {
                return Err(NodeListError::Duplicate(n.clone()));
            }
        }
        Ok(Self(nodes))
    }

    /// [`Self::new`] on a copy of `nodes`.
    pub fn from_slice(nodes: &[NodeUrl]) -> Result<Self, NodeListError> {
        Self::new(nodes.to_vec())
    }

    /// The nodes, in order.
    pub fn as_slice(&self) -> &[NodeUrl] {
        &self.0
    }

    /// The nodes, in order.
    pub fn into_vec(self) -> Vec<NodeUrl> {
        self.0
    }
}

impl Deref for NodeList {
    type Target = [NodeUrl];

    fn deref(&self) -> &[NodeUrl] {
        &self.0
    }
}

impl TryFrom<Vec<NodeUrl>> for NodeList {
    type Error = NodeListError;

    fn try_from(nodes: Vec<NodeUrl>) -> Result<Self, NodeListError> {
        Self::new(nodes)
    }
}

impl<'a> IntoIterator for &'a NodeList {
    type Item = &'a NodeUrl;
    type IntoIter = std::slice::Iter<'a, NodeUrl>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The node's comparison form of a node address: trimmed, one leading `https://` or `http://`
/// removed, `localhost` replaced by `127.0.0.1`.
///
/// ```
/// use lit_session_signer::protocol::normalize_node_address;
/// assert_eq!(normalize_node_address(" http://localhost:7470 "), "127.0.0.1:7470");
/// ```
pub fn normalize_node_address(address: &str) -> String {
    let trimmed = address.trim();
    let stripped = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://")).unwrap_or(trimmed);
    stripped.replace("localhost", "127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls() {
        for ok in
            ["https://158.69.108.66:443", "http://127.0.0.1:7471", "https://node.example.com", "http://[::1]:7470"]
        {
            assert_eq!(ok.parse::<NodeUrl>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "158.69.108.66:443",
            "ftp://x:1",
            "https://",
            "https://x:1/",
            "https://x:1/path",
            "https://x:1?q",
            "https://u@x:1",
            "https://x :1",
        ] {
            assert!(bad.parse::<NodeUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_and_missing_nodes() {
        let n: NodeUrl = "http://127.0.0.1:7471".parse().unwrap();
        assert!(matches!(NodeList::new(vec![]), Err(NodeListError::Empty)));
        assert!(matches!(NodeList::new(vec![n.clone(), n]), Err(NodeListError::Duplicate(_))));
    }
}
