//! What one policy rule becomes in AutoMod's terms: the regexes that match
//! its links in raw message text, the allow-list of hosts the catalogue
//! excludes, and, in words, the parts no AutoMod pattern can express.
//!
//! Pure, like the planner (`super::plan`) that uses it.

use super::plan::{MAX_ALLOW, MAX_ALLOW_LEN, MAX_REGEX_LEN};
use linkguard_rules::detect::ProviderSpec;
use linkguard_rules::policy::{Policy, Rule};
use std::collections::BTreeSet;

/// A literal made safe inside a regex.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The host part of a pattern: an alternation of the catalogue's host forms
/// (`host`, `*.domain`, `label.*`, `*`), anchored where a host may start.
fn host_regex(hosts: &[String]) -> Option<String> {
    let mut exact: BTreeSet<&str> = BTreeSet::new();
    let mut subs: BTreeSet<&str> = BTreeSet::new();
    let mut alts: Vec<String> = Vec::new();
    for h in hosts {
        if h == "*" {
            alts.push(r"[\w-]+(?:\.[\w-]+)+".into());
        } else if let Some(d) = h.strip_prefix("*.") {
            subs.insert(d);
        } else if let Some(label) = h.strip_suffix(".*") {
            alts.push(format!(r"{}\.[\w-]+(?:\.[\w-]+)+", escape(label)));
        } else {
            exact.insert(h);
        }
    }
    for d in &subs {
        if exact.remove(d) {
            alts.push(format!(r"(?:[\w-]+\.)*{}", escape(d)));
        } else {
            alts.push(format!(r"(?:[\w-]+\.)+{}", escape(d)));
        }
    }
    alts.extend(exact.iter().map(|h| escape(h)));
    if alts.is_empty() {
        return None;
    }
    let alt = if alts.len() == 1 {
        alts.remove(0)
    } else {
        format!("(?:{})", alts.join("|"))
    };
    Some(format!(r"(?:^|[^\w.-]){alt}(?::\d+)?"))
}

/// A catalogue path regex (over the canonical `/path?query#fragment`) made
/// to work inside raw message text: the leading `(?i)` and `^` go (AutoMod
/// ignores case; the host part anchors), `$` becomes "the link ends here",
/// and negated classes do not run across whitespace.
fn path_regex(pattern: &str) -> String {
    let mut p = pattern.trim();
    p = p.strip_prefix("(?i)").unwrap_or(p);
    let anchored = p.starts_with('^');
    p = p.strip_prefix('^').unwrap_or(p);
    let mut out = String::with_capacity(p.len() + 16);
    if !anchored {
        out.push_str(r"/\S*?");
    }
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push_str(r"^\s");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class => out.push_str(r"(?:$|[^\w-])"),
            c => out.push(c),
        }
    }
    out
}

/// The patterns of one rule, and the parts it cannot express.
#[derive(Debug, Default)]
pub(super) struct Patterns {
    /// Regexes AutoMod accepts, each once, in the order they were found.
    pub(super) regexes: Vec<String>,
    /// `host/` entries that never trigger the rule.
    pub(super) allow: Vec<String>,
    /// What is left to linkguard, in words for admins.
    pub(super) left: Vec<String>,
}

impl Patterns {
    /// The patterns of `rule`: its providers' hosts, path shapes and app
    /// schemes, then its own hosts; what AutoMod cannot hold is listed.
    pub(super) fn of(policy: &Policy, rule: &Rule) -> Patterns {
        let mut out = Patterns::default();
        for id in &rule.providers {
            if let Some(spec) = policy.catalogue().get(id.as_str()) {
                out.add_provider(spec);
            }
        }
        if !rule.hosts.is_empty() {
            out.add_rule_hosts(&rule.hosts);
        }
        if !rule.patterns.is_empty() {
            out.left.push(format!(
                "{} URL pattern(s) (regexes over canonical URLs, not over text)",
                rule.patterns.len()
            ));
        }
        if rule.detect_invitations {
            out.left
                .push("invitations pasted as text (meeting ID and passcode)".into());
        }
        if out.allow.len() > MAX_ALLOW {
            out.allow.truncate(MAX_ALLOW);
            out.left.push(format!(
                "more than {MAX_ALLOW} excluded hosts: some may be blocked natively too"
            ));
        }
        out
    }

    /// Keeps `re` (once) if AutoMod can take it; otherwise says why `what`
    /// is left to linkguard.
    fn push(&mut self, what: &str, re: String) {
        if re.chars().count() > MAX_REGEX_LEN {
            self.left.push(format!(
                "{what}: longer than AutoMod's {MAX_REGEX_LEN} characters"
            ));
        } else if regex::Regex::new(&re).is_err() {
            self.left
                .push(format!("{what}: not a regex AutoMod accepts"));
        } else if !self.regexes.contains(&re) {
            self.regexes.push(re);
        }
    }

    /// One catalogue provider: its web and app link shapes, the hosts it
    /// excludes, and what of it only linkguard can recognise.
    fn add_provider(&mut self, spec: &ProviderSpec) {
        let name = spec.display_name();
        self.add_web_shapes(spec, name);
        self.add_app_shapes(spec, name);
        for h in &spec.exclude_hosts {
            let entry = format!("{h}/");
            if entry.chars().count() <= MAX_ALLOW_LEN && !self.allow.contains(&entry) {
                self.allow.push(entry);
            }
        }
        if !spec.url_patterns.is_empty() {
            self.left.push(format!(
                "{name} links recognised by whole-URL patterns (they describe canonical URLs, not text)"
            ));
        }
        if !spec.not_meeting.is_empty() {
            self.left.push(format!(
                "{name} pages that look like meetings but are not ({} exception pattern(s)): AutoMod cannot make exceptions to a regex, so such a link may be blocked too",
                spec.not_meeting.len()
            ));
        }
    }

    /// The provider's own hosts and shapes, then each host-specific route:
    /// host regex followed by each path shape (any path when it has none).
    fn add_web_shapes(&mut self, spec: &ProviderSpec, name: &str) {
        let routes = std::iter::once((&spec.hosts, &spec.meeting))
            .chain(spec.routes.iter().map(|r| (&r.hosts, &r.meeting)));
        for (hosts, shapes) in routes {
            let Some(host) = host_regex(hosts) else {
                continue;
            };
            if shapes.is_empty() {
                self.push(&format!("{name} links"), format!(r"{host}/[^\s/?#]"));
            }
            for m in shapes {
                self.push(
                    &format!("a {name} link shape"),
                    format!("{host}{}", path_regex(m)),
                );
            }
        }
    }

    /// App links (`zoommtg://…`): the provider's schemes followed by its app
    /// shapes, or its web shapes when it has no app shapes of its own.
    fn add_app_shapes(&mut self, spec: &ProviderSpec, name: &str) {
        if spec.schemes.is_empty() {
            return;
        }
        let schemes: Vec<String> = spec.schemes.iter().map(|s| escape(s)).collect();
        let prefix = format!(r"(?:{})://[^\s/?#]*", schemes.join("|"));
        let shapes = if spec.app_meeting.is_empty() {
            &spec.meeting
        } else {
            &spec.app_meeting
        };
        for m in shapes {
            self.push(
                &format!("a {name} app link shape"),
                format!("{prefix}{}", path_regex(m)),
            );
        }
    }

    /// A rule's own `hosts` (`*.domain` also covering the domain itself):
    /// one regex for any path other than `/`.
    fn add_rule_hosts(&mut self, rule_hosts: &[String]) {
        let mut hosts = Vec::with_capacity(rule_hosts.len() * 2);
        for h in rule_hosts {
            hosts.push(h.clone());
            if let Some(d) = h.strip_prefix("*.") {
                hosts.push(d.to_owned());
            }
        }
        if let Some(host) = host_regex(&hosts) {
            self.push("its hosts", format!(r"{host}/[^\s/?#]"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_regexes_work_on_text() {
        assert_eq!(
            path_regex(r"(?i)^/[jsw]/\d{9,12}(?:[/?#]|$)"),
            r"/[jsw]/\d{9,12}(?:[/?#]|(?:$|[^\w-]))"
        );
        assert_eq!(path_regex(r"^/a[^/?#$]+"), r"/a[^\s/?#$]+");
        assert_eq!(path_regex(r"/x\$"), r"/\S*?/x\$");
    }
}
