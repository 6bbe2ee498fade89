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

    /// `http://` or `https://`, a host (a DNS name or IPv4 address of letters, digits, `-`,
    /// `.` and `_`, or an IPv6 address in brackets), `:` and a port (1 to 65535, no leading
    /// zero); nothing else. Lit nodes are named so (the staking contract's `ip:port`), and the
    /// node compares the signed `nodeAddress`, stripped of its scheme, with its own
    /// `domain:port` byte for byte: a path, query, fragment, user info, missing port,
    /// upper-case scheme or percent-escape would make a session no node accepts.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| NodeUrlError { url: s.to_string(), reason };
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| err("scheme must be http:// or https:// (lower case)"))?;
        if let Some(c) = rest.chars().find(|c| matches!(c, '/' | '?' | '#' | '@' | '%') || c.is_whitespace()) {
            return Err(err(match c {
                '/' => "no path or trailing slash allowed",
                '?' => "no query allowed",
                '#' => "no fragment allowed",
                '@' => "user info is not allowed",
                '%' => "no percent-escapes allowed",
                _ => "whitespace is not allowed",
            }));
        }
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (addr, after) = v6.split_once(']').ok_or_else(|| err("unclosed [ in the host"))?;
                if addr.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(err("the bracketed host is not an IPv6 address"));
                }
                (&rest[..addr.len() + 2], after.strip_prefix(':').ok_or_else(|| err("a port is required"))?)
            }
            None => rest.rsplit_once(':').ok_or_else(|| err("a port is required"))?,
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(err("the host may hold only letters, digits, '-', '.' and '_'"));
        }
        let port_ok = !port.is_empty()
            && port.len() <= 5
            && !port.starts_with('0')
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !port_ok {
            return Err(err("the port must be 1 to 65535, without leading zeros"));
        }
        Ok(Self(s.to_string()))
    }
}

impl NodeUrl {
    /// The URL exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `host:port`: the address a node at this URL has for itself, the `domain:port` it
    /// compares a signed `nodeAddress` with (`validate_session_sig`). A node reached at
    /// `localhost` is taken to be configured as `127.0.0.1`: the node rewrites `localhost` in
    /// the signed address to match that.
    ///
    /// ```
    /// use lit_session_signer::protocol::NodeUrl;
    /// let node: NodeUrl = "http://localhost:7470".parse().unwrap();
    /// assert_eq!(node.node_address(), "127.0.0.1:7470");
    /// ```
    pub fn node_address(&self) -> String {
        let rest = self.0.strip_prefix("https://").or_else(|| self.0.strip_prefix("http://")).unwrap_or(&self.0);
        match rest.rsplit_once(':') {
            Some(("localhost", port)) => format!("127.0.0.1:{port}"),
            _ => rest.to_string(),
        }
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

/// The node's comparison form of a signed node address (`session_sigs.rs::prepare_domain_name`):
/// trimmed of Unicode whitespace, every leading `https://` removed, then every leading `http://`,
/// then each `localhost` anywhere replaced by `127.0.0.1`. So `https://https://x:1` and
/// `https://http://x:1` become `x:1`, but `http://https://x:1` keeps its `https://`.
///
/// ```
/// use lit_session_signer::protocol::normalize_node_address;
/// assert_eq!(normalize_node_address(" http://localhost:7470 "), "127.0.0.1:7470");
/// assert_eq!(normalize_node_address("https://https://http://1.2.3.4:443"), "1.2.3.4:443");
/// assert_eq!(normalize_node_address("http://https://1.2.3.4:443"), "https://1.2.3.4:443");
/// ```
pub fn normalize_node_address(address: &str) -> String {
    let trimmed = address.trim();
    let mut rest = trimmed;
    while let Some(r) = rest.strip_prefix("https://") {
        rest = r;
    }
    while let Some(r) = rest.strip_prefix("http://") {
        rest = r;
    }
    rest.replace("localhost", "127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls() {
        for ok in [
            "https://158.69.108.66:443",
            "http://127.0.0.1:7471",
            "https://node.example.com:443",
            "http://[::1]:7470",
            "http://LOCALHOST:1",
            "https://a_b-c.d:65535",
        ] {
            assert_eq!(ok.parse::<NodeUrl>().unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "158.69.108.66:443",
            "ftp://x:1",
            "HTTPS://x:1",
            "https://",
            "https://:443",
            "https://node.example.com",
            "https://x:1/",
            "https://x:1/path",
            "https://x:1?q",
            "https://x:1?",
            "https://host:443#x",
            "https://host:443#",
            "https://u@x:1",
            "https://u:p@x:1",
            "https://x :1",
            "https://x:1 ",
            " https://x:1",
            "https://x:0",
            "https://x:0443",
            "https://x:65536",
            "https://x:+1",
            "https://x:",
            "https://%6Eode:443",
            "https://[::1:7470",
            "https://[zz]:7470",
            "https://[::1]7470",
            "https://ex\u{e4}mple.com:443",
            "https://a,b:1",
        ] {
            assert!(bad.parse::<NodeUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn node_addresses() {
        for (url, address) in [
            ("https://158.69.108.66:443", "158.69.108.66:443"),
            ("http://localhost:7470", "127.0.0.1:7470"),
            ("http://LOCALHOST:7470", "LOCALHOST:7470"),
            ("http://[::1]:7470", "[::1]:7470"),
        ] {
            assert_eq!(url.parse::<NodeUrl>().unwrap().node_address(), address);
            // What the node makes of the URL signed as nodeAddress is the node's own address.
            assert_eq!(normalize_node_address(url), address.replace("localhost", "127.0.0.1"));
        }
        assert_eq!(normalize_node_address("https://https://x:1"), "x:1");
        assert_eq!(normalize_node_address("https://http://http://x:1"), "x:1");
        assert_eq!(normalize_node_address("http://https://x:1"), "https://x:1");
        assert_eq!(normalize_node_address("\u{2003}x:1\t"), "x:1");
        assert_eq!(normalize_node_address("HTTPS://x:1"), "HTTPS://x:1");
        assert_eq!(normalize_node_address("https://mylocalhost:1"), "my127.0.0.1:1");
    }

    #[test]
    fn duplicate_and_missing_nodes() {
        let n: NodeUrl = "http://127.0.0.1:7471".parse().unwrap();
        assert!(matches!(NodeList::new(vec![]), Err(NodeListError::Empty)));
        assert!(matches!(NodeList::new(vec![n.clone(), n]), Err(NodeListError::Duplicate(_))));
    }
}
