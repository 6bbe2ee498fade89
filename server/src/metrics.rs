//! Prometheus metrics in the text exposition format, `litsigner_` names, `_total` and
//! `_seconds` suffixes. Label values are bounded: clients are configured names or `unknown`,
//! rules are policy rule names, endpoints and results are fixed sets.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram buckets (seconds): 0.5 ms to 1 s.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

struct Family<T> {
    help: &'static str,
    series: BTreeMap<Labels, T>,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<&'static str, Family<u64>>,
    gauges: BTreeMap<&'static str, Family<f64>>,
    histograms: BTreeMap<&'static str, Family<Histogram>>,
}

/// A metric family: its name and help text (the constants in [`names`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// `litsigner_…`.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
}

impl Metric {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help }
    }
}

/// The registry.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render_labels(out: &mut String, l: &Labels, extra: Option<(&str, String)>) {
    if l.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in l.iter().map(|(k, v)| (*k, v.clone())).chain(extra) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape(&v));
    }
    out.push('}');
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `n` to a counter.
    pub fn inc_by(&self, m: Metric, pairs: &[(&'static str, &str)], n: u64) {
        let mut inner = self.lock();
        let fam = inner.counters.entry(m.name).or_insert_with(|| Family { help: m.help, series: BTreeMap::new() });
        *fam.series.entry(labels(pairs)).or_default() += n;
    }

    /// Adds one to a counter.
    pub fn inc(&self, m: Metric, pairs: &[(&'static str, &str)]) {
        self.inc_by(m, pairs, 1);
    }

    /// Sets a gauge.
    pub fn set(&self, m: Metric, pairs: &[(&'static str, &str)], v: f64) {
        let mut inner = self.lock();
        let fam = inner.gauges.entry(m.name).or_insert_with(|| Family { help: m.help, series: BTreeMap::new() });
        fam.series.insert(labels(pairs), v);
    }

    /// Drops every series of a gauge (before re-setting it from a new policy).
    pub fn clear_gauge(&self, m: Metric) {
        if let Some(f) = self.lock().gauges.get_mut(m.name) {
            f.series.clear();
        }
    }

    /// Records an observation.
    pub fn observe(&self, m: Metric, pairs: &[(&'static str, &str)], secs: f64) {
        let mut inner = self.lock();
        let fam = inner.histograms.entry(m.name).or_insert_with(|| Family { help: m.help, series: BTreeMap::new() });
        let h = fam.series.entry(labels(pairs)).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for (name, fam) in &inner.counters {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} counter", fam.help);
            for (l, v) in &fam.series {
                out.push_str(name);
                render_labels(&mut out, l, None);
                let _ = writeln!(out, " {v}");
            }
        }
        for (name, fam) in &inner.gauges {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} gauge", fam.help);
            for (l, v) in &fam.series {
                out.push_str(name);
                render_labels(&mut out, l, None);
                let _ = writeln!(out, " {v}");
            }
        }
        for (name, fam) in &inner.histograms {
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", fam.help);
            for (l, h) in &fam.series {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = write!(out, "{name}_bucket");
                    render_labels(&mut out, l, Some(("le", b.to_string())));
                    let _ = writeln!(out, " {}", h.counts[i]);
                }
                let _ = write!(out, "{name}_bucket");
                render_labels(&mut out, l, Some(("le", "+Inf".to_string())));
                let _ = writeln!(out, " {}", h.count);
                let _ = write!(out, "{name}_sum");
                render_labels(&mut out, l, None);
                let _ = writeln!(out, " {}", h.sum);
                let _ = write!(out, "{name}_count");
                render_labels(&mut out, l, None);
                let _ = writeln!(out, " {}", h.count);
            }
        }
        out
    }
}

/// Metric names and help texts, in one place.
pub mod names {
    use super::Metric;

    /// Requests by endpoint, client and result.
    pub const REQUESTS: Metric =
        Metric::new("litsigner_requests_total", "Requests by endpoint, client and result (approved, denied, failed).");
    /// Request latency.
    pub const DURATION: Metric =
        Metric::new("litsigner_request_duration_seconds", "Time from request start to response, by endpoint.");
    /// Session sigs handed out (one per node URL).
    pub const ISSUED: Metric =
        Metric::new("litsigner_session_sigs_issued_total", "Session sigs handed out (one per node URL).");
    /// Policy decisions.
    pub const DECISIONS: Metric =
        Metric::new("litsigner_policy_decisions_total", "Policy decisions by client, rule and result.");
    /// AuthSig reuse.
    pub const AUTH_SIG: Metric =
        Metric::new("litsigner_auth_sig_total", "AuthSig use per minting request (reused, signed).");
    /// HSM errors.
    pub const HSM_ERRORS: Metric =
        Metric::new("litsigner_hsm_errors_total", "Key store (HSM) errors seen by requests.");
    /// Store up.
    pub const STORE_UP: Metric = Metric::new("litsigner_store_up", "1 if the last store health check passed.");
    /// Store errors.
    pub const STORE_ERRORS: Metric = Metric::new("litsigner_store_errors_total", "Store operations that failed.");
    /// Audit rows spooled.
    pub const AUDIT_SPOOLED: Metric =
        Metric::new("litsigner_audit_spooled_total", "Audit rows written to the spool while the database was away.");
    /// Audit failures.
    pub const AUDIT_FAILURES: Metric =
        Metric::new("litsigner_audit_failures_total", "Audit rows that could not be written (the request failed).");
    /// Ready.
    pub const READY: Metric = Metric::new("litsigner_ready", "1 if /readyz reports ready.");
    /// Build info.
    pub const BUILD: Metric = Metric::new("litsigner_build_info", "Build information (always 1).");
    /// Start time.
    pub const START: Metric = Metric::new("litsigner_start_time_seconds", "Unix time the process started.");
    /// Policy rules per client.
    pub const RULES: Metric = Metric::new("litsigner_policy_rules", "Allow and deny rules per configured client.");
    /// Policy reloads.
    pub const RELOADS: Metric = Metric::new("litsigner_policy_reload_total", "Policy reloads by result (ok, error).");
    /// Session-key events this process recorded.
    pub const KEY_EVENTS: Metric = Metric::new(
        "litsigner_session_key_events_total",
        "Session-key events this process recorded (generated, activated, retired, destroyed).",
    );
    /// The rotating key's generation this process signs with.
    pub const KEY_GENERATION: Metric = Metric::new(
        "litsigner_session_key_generation",
        "The generation of the rotating session key this process signs with.",
    );
    /// Authentication failures.
    pub const AUTH_FAILURES: Metric =
        Metric::new("litsigner_auth_failures_total", "Requests refused before a client was identified, by reason.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let m = Metrics::default();
        m.inc(Metric::new("litsigner_x_total", "x"), &[("client", "a\"b")]);
        m.observe(Metric::new("litsigner_d_seconds", "d"), &[("endpoint", "e")], 0.002);
        m.set(Metric::new("litsigner_ready", "r"), &[], 1.0);
        let t = m.render();
        assert!(t.contains("litsigner_x_total{client=\"a\\\"b\"} 1"), "{t}");
        assert!(t.contains("litsigner_d_seconds_bucket{endpoint=\"e\",le=\"0.0025\"} 1"), "{t}");
        assert!(t.contains("litsigner_d_seconds_bucket{endpoint=\"e\",le=\"0.001\"} 0"), "{t}");
        assert!(t.contains("litsigner_ready 1"), "{t}");
    }
}
