//! Which nodes a Naga (v8) session is signed for, in which order, and the `maxPrice` each one
//! signs: the v8 SDK's `getMaxPricesForNodeProduct`.
//!
//! The SDK keeps the `threshold` cheapest nodes for the operation at hand (a stable sort, so
//! equal prices keep the order the nodes were given), lists them cheapest first, and spreads
//! the user's maximum over them: `price_i = nodePrice_i + (max − Σ nodePrice) / k` with integer
//! division (the remainder goes to nobody), refusing when the chosen nodes cost more than the
//! maximum. A node's `maxPrice` is the most it may charge; the node refuses a request whose
//! price is higher.

use crate::protocol::{NodeUrl, Price};

/// How each chosen node's `maxPrice` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxPrice {
    /// The v8 SDK's split of this user maximum (default [`Price::DEFAULT_USER_MAX`]) over the
    /// chosen nodes' own prices.
    Split(Price),
    /// This `maxPrice` for every chosen node (refused if a chosen node costs more).
    Each(Price),
}

impl Default for MaxPrice {
    fn default() -> Self {
        Self::Split(Price::DEFAULT_USER_MAX)
    }
}

/// The pricing of a v8 session: each node's own price for the operation at hand (a node not
/// listed costs 0), how many of the cheapest nodes to keep, and the maximum.
///
/// ```
/// use lit_session_signer::pricing::{MaxPrice, NodePricing};
/// use lit_session_signer::protocol::{NodeUrl, Price};
///
/// let nodes: Vec<NodeUrl> = ["https://10.0.0.1:443", "https://10.0.0.2:443", "https://10.0.0.3:443"]
///     .iter().map(|u| u.parse().unwrap()).collect();
/// let pricing = NodePricing::new()
///     .with_node_price(nodes[0].clone(), Price::from(30u64))
///     .with_node_price(nodes[1].clone(), Price::from(10u64))
///     .with_node_price(nodes[2].clone(), Price::from(20u64))
///     .with_threshold(2)
///     .with_max_price(MaxPrice::Split(Price::from(100u64)));
/// let plan = pricing.plan(&nodes).unwrap();
/// // The two cheapest, cheapest first; (100 - 30) / 2 = 35 on top of each one's price.
/// assert_eq!(plan, vec![(nodes[1].clone(), Price::from(45u64)), (nodes[2].clone(), Price::from(55u64))]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePricing {
    /// Each node's own price (wei) for the operation at hand; a node not listed costs 0.
    pub node_prices: Vec<(NodeUrl, Price)>,
    /// Keep this many of the cheapest nodes (default: every node).
    pub threshold: Option<usize>,
    /// How the chosen nodes' `maxPrice` is set (default: the SDK's split of 2^128 − 1).
    pub max_price: MaxPrice,
}

/// Pricing that cannot be applied to a node list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A threshold of 0 nodes.
    #[error("the threshold must be at least 1 node")]
    ThresholdZero,
    /// A threshold above the number of nodes.
    #[error("the threshold of {threshold} nodes is above the {nodes} nodes given")]
    ThresholdAboveNodes {
        /// The threshold.
        threshold: usize,
        /// How many nodes were given.
        nodes: usize,
    },
    /// A price for a node that is not among the session's nodes.
    #[error("a price is given for {0}, which is not one of the session's nodes")]
    UnknownNode(NodeUrl),
    /// Two prices for one node.
    #[error("two prices are given for {0}")]
    DuplicateNodePrice(NodeUrl),
    /// The chosen nodes cost more than the user maximum (the SDK's `MaxPriceTooLow`).
    #[error("max price is too low: the {nodes} chosen nodes cost {required} together, above the maximum {max}")]
    MaxPriceTooLow {
        /// How many nodes were chosen.
        nodes: usize,
        /// Their total price.
        required: Price,
        /// The user maximum.
        max: Price,
    },
    /// The chosen nodes' prices add up to more than 2^256 − 1.
    #[error("max price is too low: the {nodes} chosen nodes cost more than 2^256 - 1 together")]
    TotalOverflows {
        /// How many nodes were chosen.
        nodes: usize,
    },
    /// [`MaxPrice::Each`] below a chosen node's price: that node would refuse every request.
    #[error("{node} costs {price}, above the maxPrice {max} every node signs")]
    NodeAboveMaxPrice {
        /// The node.
        node: NodeUrl,
        /// Its price.
        price: Price,
        /// The `maxPrice`.
        max: Price,
    },
}

impl NodePricing {
    /// Every node at price 0, every node kept, the SDK's default maximum.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `node`'s own price.
    pub fn with_node_price(mut self, node: NodeUrl, price: Price) -> Self {
        self.node_prices.push((node, price));
        self
    }

    /// Keeps the `threshold` cheapest nodes.
    pub fn with_threshold(mut self, threshold: usize) -> Self {
        self.threshold = Some(threshold);
        self
    }

    /// Sets how `maxPrice` is chosen.
    pub fn with_max_price(mut self, max_price: MaxPrice) -> Self {
        self.max_price = max_price;
        self
    }

    /// The nodes to sign for, cheapest first (ties in the order given), each with its
    /// `maxPrice`.
    pub fn plan(&self, nodes: &[NodeUrl]) -> Result<Vec<(NodeUrl, Price)>, PricingError> {
        let mut priced: Vec<(NodeUrl, Price)> = nodes.iter().map(|n| (n.clone(), Price::ZERO)).collect();
        let mut seen = std::collections::HashSet::new();
        for (node, price) in &self.node_prices {
            if !seen.insert(node) {
                return Err(PricingError::DuplicateNodePrice(node.clone()));
            }
            let slot =
                priced.iter_mut().find(|(n, _)| n == node).ok_or_else(|| PricingError::UnknownNode(node.clone()))?;
            slot.1 = *price;
        }
        let k = match self.threshold {
            None => nodes.len(),
            Some(0) => return Err(PricingError::ThresholdZero),
            Some(k) if k > nodes.len() => {
                return Err(PricingError::ThresholdAboveNodes { threshold: k, nodes: nodes.len() })
            }
            Some(k) => k,
        };
        // A stable sort: equal prices keep the given order, as the SDK's sort.
        priced.sort_by_key(|(_, price)| *price);
        priced.truncate(k);
        match self.max_price {
            MaxPrice::Each(max) => {
                if let Some((node, price)) = priced.iter().find(|(_, p)| *p > max) {
                    return Err(PricingError::NodeAboveMaxPrice { node: node.clone(), price: *price, max });
                }
                Ok(priced.into_iter().map(|(n, _)| (n, max)).collect())
            }
            MaxPrice::Split(max) => {
                let total = priced
                    .iter()
                    .try_fold(Price::ZERO, |sum, (_, p)| sum.checked_add(*p))
                    .ok_or(PricingError::TotalOverflows { nodes: priced.len() })?;
                let excess = max.checked_sub(total).ok_or(PricingError::MaxPriceTooLow {
                    nodes: priced.len(),
                    required: total,
                    max,
                })?;
                // k >= 1 here: a node list is never empty and the threshold is at least 1.
                let share = excess.checked_div(priced.len() as u64).unwrap_or(Price::ZERO);
                priced
                    .into_iter()
                    .map(|(n, p)| {
                        // p + share <= total + excess = max, so this cannot overflow.
                        let max_price = p.checked_add(share).ok_or(PricingError::TotalOverflows { nodes: k })?;
                        Ok((n, max_price))
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<NodeUrl> {
        (0..n).map(|i| format!("https://10.0.0.{}:443", i + 1).parse().unwrap()).collect()
    }

    fn p(v: u128) -> Price {
        Price::from_u128(v)
    }

    #[test]
    fn the_vector_split() {
        // naga-v8-small.json: SIGN prices 30e12, 31e12, 29e12; default maximum; 3 nodes.
        let n = nodes(3);
        let pricing = NodePricing::new()
            .with_node_price(n[0].clone(), p(30_000_000_000_000))
            .with_node_price(n[1].clone(), p(31_000_000_000_000))
            .with_node_price(n[2].clone(), p(29_000_000_000_000));
        let plan = pricing.plan(&n).unwrap();
        let got: Vec<(String, String)> = plan.iter().map(|(u, m)| (u.to_string(), m.to_hex())).collect();
        assert_eq!(
            got,
            [
                (n[2].to_string(), "0x55555555555555555555546c80b04555".to_string()),
                (n[0].to_string(), "0x55555555555555555555555555555555".to_string()),
                (n[1].to_string(), "0x55555555555555555555563e29fa6555".to_string()),
            ]
        );
    }

    #[test]
    fn ties_keep_the_given_order_and_the_threshold_keeps_the_cheapest() {
        let n = nodes(5);
        let pricing = NodePricing::new()
            .with_node_price(n[0].clone(), p(7))
            .with_node_price(n[1].clone(), p(5))
            .with_node_price(n[2].clone(), p(7))
            .with_node_price(n[3].clone(), p(5))
            .with_node_price(n[4].clone(), p(5))
            .with_threshold(4)
            .with_max_price(MaxPrice::Split(p(100)));
        let plan = pricing.plan(&n).unwrap();
        let order: Vec<&NodeUrl> = plan.iter().map(|(u, _)| u).collect();
        assert_eq!(order, [&n[1], &n[3], &n[4], &n[0]]);
        // (100 - 22) / 4 = 19 (remainder 2 dropped).
        let prices: Vec<Price> = plan.iter().map(|(_, m)| *m).collect();
        assert_eq!(prices, [p(24), p(24), p(24), p(26)]);
        // All equal (unlisted nodes cost 0): the first k in the given order.
        let plan = NodePricing::new().with_threshold(2).with_max_price(MaxPrice::Split(p(9))).plan(&n).unwrap();
        assert_eq!(plan, vec![(n[0].clone(), p(4)), (n[1].clone(), p(4))]);
    }

    #[test]
    fn the_maximum_exactly_covers_the_prices_and_one_less_is_refused() {
        let n = nodes(2);
        let priced = NodePricing::new().with_node_price(n[0].clone(), p(10)).with_node_price(n[1].clone(), p(20));
        let exact = priced.clone().with_max_price(MaxPrice::Split(p(30))).plan(&n).unwrap();
        assert_eq!(exact, vec![(n[0].clone(), p(10)), (n[1].clone(), p(20))]);
        let low = priced.clone().with_max_price(MaxPrice::Split(p(29))).plan(&n);
        assert_eq!(low, Err(PricingError::MaxPriceTooLow { nodes: 2, required: p(30), max: p(29) }));
        // Every price and the maximum 0: every maxPrice 0x0.
        let zero = NodePricing::new().with_max_price(MaxPrice::Split(Price::ZERO)).plan(&n).unwrap();
        assert!(zero.iter().all(|(_, m)| m.to_hex() == "0x0"));
        // The largest maximum splits without overflow.
        let big = priced.with_max_price(MaxPrice::Split(Price::MAX)).plan(&n).unwrap();
        assert_eq!(
            big[1].1,
            Price::MAX.checked_sub(p(30)).unwrap().checked_div(2).unwrap().checked_add(p(20)).unwrap()
        );
        // Prices that add up past 2^256 - 1.
        let over = NodePricing::new().with_node_price(n[0].clone(), Price::MAX).with_node_price(n[1].clone(), p(1));
        assert_eq!(over.plan(&n), Err(PricingError::TotalOverflows { nodes: 2 }));
    }

    #[test]
    fn the_default_is_the_sdks_unlimited_maximum_over_every_node() {
        let n = nodes(3);
        let plan = NodePricing::new().plan(&n).unwrap();
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|(_, m)| *m == p(u128::MAX / 3)));
        assert_eq!(NodePricing::new().plan(&n[..1]).unwrap()[0].1, Price::DEFAULT_USER_MAX);
    }

    #[test]
    fn one_price_for_every_node() {
        let n = nodes(3);
        let each = NodePricing::new().with_node_price(n[1].clone(), p(3)).with_max_price(MaxPrice::Each(p(5)));
        let plan = each.clone().with_threshold(2).plan(&n).unwrap();
        assert_eq!(plan, vec![(n[0].clone(), p(5)), (n[2].clone(), p(5))]);
        let low = each.with_max_price(MaxPrice::Each(p(2))).plan(&n);
        assert_eq!(low, Err(PricingError::NodeAboveMaxPrice { node: n[1].clone(), price: p(3), max: p(2) }));
    }

    #[test]
    fn bad_pricing_is_refused() {
        let n = nodes(2);
        assert_eq!(NodePricing::new().with_threshold(0).plan(&n), Err(PricingError::ThresholdZero));
        assert_eq!(
            NodePricing::new().with_threshold(3).plan(&n),
            Err(PricingError::ThresholdAboveNodes { threshold: 3, nodes: 2 })
        );
        let stranger: NodeUrl = "https://10.9.9.9:443".parse().unwrap();
        assert_eq!(
            NodePricing::new().with_node_price(stranger.clone(), p(1)).plan(&n),
            Err(PricingError::UnknownNode(stranger))
        );
        assert_eq!(
            NodePricing::new().with_node_price(n[0].clone(), p(1)).with_node_price(n[0].clone(), p(2)).plan(&n),
            Err(PricingError::DuplicateNodePrice(n[0].clone()))
        );
    }
}
