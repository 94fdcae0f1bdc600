//! The policy: which meeting links are banned, where, and what to do instead.
//!
//! A policy is a TOML document (the format is documented in the README). It is
//! parsed and validated once by [`Policy::parse`], which either returns a
//! compiled policy or a [`PolicyError`] naming the file, line, column and rule
//! of every problem found. Once compiled, evaluating a message cannot fail
//! (see [`crate::eval`]).

mod index;
mod model;
mod template;

pub(crate) use index::url_host;
use index::{RuleIndex, RuleList};
pub use model::{Action, Mode, RawPolicy, RawRule};
pub use template::{RoomKey, Template, TemplateError, PLACEHOLDERS};

use crate::detect::{
    Catalogue, Detector, InvitationFinder, ProviderSpec, INVITATION_PROVIDERS, REGEX_SIZE_LIMIT,
};
use crate::keyfilter::KeyFilter;
use crate::{Dialect, ProviderId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;

/// Maps looked up once or more per link: FNV hashing (keys come from the
/// policy, lookups from messages; no adversary can grow the table).
type FnvMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<crate::detect::Fnv>>;

/// The policy used when none is configured: Zoom is not allowed and is
/// replaced with a Jitsi room; every other tool is allowed.
pub const DEFAULT_POLICY: &str = include_str!("default.toml");

/// The name the built-in policy reports errors under.
pub const DEFAULT_POLICY_NAME: &str = "<built-in default policy>";

/// A rule's id, as written in the policy: checked when the policy is
/// parsed to be 1 to 64 lower-case ASCII letters, digits, `-`, `_` or `:`
/// (what provider ids allow), so it is safe in messages, logs and stored
/// audit records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(String);

impl RuleId {
    /// The id, or `None` when `id` has characters a rule id may not have.
    pub fn new(id: &str) -> Option<RuleId> {
        ProviderId::new(id).map(|p| RuleId(p.as_str().to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem found while loading a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the policy text.
    pub line: usize,
    /// 1-based column (in characters) in the policy text.
    pub column: usize,
    /// The rule the problem belongs to, when there is one.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Why a policy could not be loaded: every problem found, each with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyError {
    /// The name of the policy source (a file path, or a description).
    pub source_name: String,
    /// The problems, in the order they occur in the text.
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{}:{}: ", self.source_name, p.line, p.column)?;
            if let Some(rule) = &p.rule {
                write!(f, "rule `{rule}`: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's id, unique in the policy.
    pub id: RuleId,
    /// Providers the rule bans.
    pub providers: Vec<ProviderId>,
    /// Custom host patterns (`host` or `*.domain`) whose links the rule bans.
    pub hosts: Vec<String>,
    /// Regexes over the canonical URL that the rule bans.
    pub patterns: Vec<String>,
    /// What to do with a banned link.
    pub action: Action,
    /// The approved alternative, when the rule offers one.
    pub alternative: Option<Template>,
    /// The reason shown to people, in the admin's words.
    pub reason: String,
    /// `monitor` makes this rule record without acting, whatever the policy mode.
    pub mode: Mode,
    /// Platforms the rule applies to (empty: all).
    pub platforms: Vec<Dialect>,
    /// Slack workspaces / Discord guilds the rule applies to (empty: all).
    pub workspaces: Vec<String>,
    /// Channels the rule applies to (empty: all).
    pub channels: Vec<String>,
    /// Users the rule never applies to.
    pub exempt_users: Vec<String>,
    /// Roles (Discord role ids or names, Slack user-group ids) the rule never applies to.
    pub exempt_roles: Vec<String>,
    /// Channels the rule never applies to.
    pub exempt_channels: Vec<String>,
    /// Whether the rule also acts on its providers' invitations pasted as
    /// text (`Meeting ID: … Passcode: …`), not only on links.
    pub detect_invitations: bool,
    /// The provider id the detector reports for this rule's custom hosts and patterns.
    pub(crate) custom_provider: Option<ProviderId>,
}

/// A loaded, validated and compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy as written, without its rules (dropped once compiled).
    pub(crate) raw: RawPolicy,
    pub(crate) source_text: String,
    pub(crate) rules: Vec<Rule>,
    pub(crate) detector: Detector,
    pub(crate) catalogue: Catalogue,
    /// The rules' patterns, in rule order, are the detector's URL patterns
    /// from `pattern_offset` on (those of custom providers come first);
    /// `pattern_rule[i]` is the rule of rule pattern `i`.
    pub(crate) pattern_offset: usize,
    pub(crate) pattern_rule: Vec<usize>,
    /// Exact custom hosts and `*.` suffixes, to the rules that name them.
    pub(crate) host_rules: FnvMap<String, RuleList>,
    pub(crate) suffix_rules: FnvMap<String, RuleList>,
    /// Over the keys of both, asked before either (most hosts are in neither).
    pub(crate) host_filter: KeyFilter,
    /// Rules by provider id.
    pub(crate) provider_rules: FnvMap<ProviderId, RuleList>,
    /// The invitation finder and the providers whose invitations some rule
    /// opts in for (`detect_invitations`); `None` when no rule does.
    pub(crate) invitations: Option<(InvitationFinder, Vec<ProviderId>)>,
    /// [`Policy::prefilter`], built the first time it is asked for
    /// (validation asks, and then every scan of the same policy).
    pub(crate) prefilter: std::sync::OnceLock<crate::prefilter::Prefilter>,
}

/// Maps byte offsets to 1-based line and column numbers.
struct Positions<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Positions<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Positions { text, line_starts }
    }

    fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

/// Collects problems while validating.
struct Problems<'a> {
    positions: Positions<'a>,
    list: Vec<(usize, Problem)>,
}

impl Problems<'_> {
    fn add(&mut self, span: Range<usize>, rule: Option<&str>, message: impl Into<String>) {
        let (line, column) = self.positions.at(span.start);
        self.list.push((
            span.start,
            Problem {
                line,
                column,
                rule: rule.map(str::to_owned),
                message: message.into(),
            },
        ));
    }
}

/// Checks that a rule's pattern compiles, with the regex crate's error.
fn check_pattern(pattern: &str) -> Result<(), String> {
    crate::patterns::check(pattern, REGEX_SIZE_LIMIT).map_err(|e| match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("regex `{pattern}` is over the size limit of {limit} bytes once compiled")
        }
        other => format!("invalid regex `{pattern}`: {other}"),
    })
}

/// Checks a host pattern: `host.example` or `*.example`, no scheme or path.
fn check_host_pattern(host: &str) -> Result<String, String> {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = h.strip_prefix("*.").unwrap_or(&h);
    let ok = !bare.is_empty()
        && bare.contains('.')
        && bare
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(h)
    } else {
        Err(format!(
            "invalid host pattern `{host}`: write a host name such as `meet.example.com` or `*.example.com`"
        ))
    }
}

impl Policy {
    /// The built-in default policy.
    pub fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY_NAME, DEFAULT_POLICY)
            .unwrap_or_else(|e| unreachable!("the built-in policy is valid: {e}"))
    }

    /// Parses and validates a policy. `source_name` (usually the file path)
    /// is used in error messages.
    pub fn parse(source_name: &str, text: &str) -> Result<Policy, PolicyError> {
        let mut problems = Problems {
            positions: Positions::new(text),
            list: Vec::new(),
        };
        let fail = |problems: Problems<'_>| {
            let mut list = problems.list;
            list.sort_by_key(|(offset, _)| *offset);
            PolicyError {
                source_name: source_name.to_owned(),
                problems: list.into_iter().map(|(_, p)| p).collect(),
            }
        };
        let raw: RawPolicy = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().to_owned();
                problems.add(span, None, message);
                return Err(fail(problems));
            }
        };
        match Policy::compile(raw, text, &mut problems) {
            Some(policy) if problems.list.is_empty() => Ok(policy),
            _ => Err(fail(problems)),
        }
    }

    /// Validates every part of `raw`, reporting each problem, and compiles
    /// the policy once nothing is wrong.
    fn compile(raw: RawPolicy, text: &str, problems: &mut Problems<'_>) -> Option<Policy> {
        let (mut catalogue, known) = compile_catalogue(&raw, problems);
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen: HashSet<String> = HashSet::new();
        let mut all_patterns: Vec<String> = Vec::new();
        let mut pattern_rule = Vec::new();
        for (index, r) in raw.rules.iter().enumerate() {
            let rule = compile_rule(r, &known, &mut seen, problems);
            for p in &rule.patterns {
                all_patterns.push(p.clone());
                pattern_rule.push(index);
            }
            if let Some(pid) = &rule.custom_provider {
                let spec = ProviderSpec::custom(
                    pid.as_str(),
                    rule.id.as_str(),
                    &rule.hosts,
                    &rule.patterns,
                );
                // Each pattern was compiled by `compile_rule`, where an error has a place.
                if let Err(e) = catalogue.add_prechecked(spec) {
                    problems.add(r.id.span(), Some(rule.id.as_str()), e.to_string());
                }
            }
            rules.push(rule);
        }
        if let Some(m) = &raw.mode {
            if Mode::parse(m.get_ref()).is_none() {
                problems.add(
                    m.span(),
                    None,
                    format!("unknown mode `{}` (use enforce or monitor)", m.get_ref()),
                );
            }
        }
        if !problems.list.is_empty() {
            return None;
        }
        catalogue.shrink_to_fit();
        let detector = match Detector::new(&catalogue) {
            Ok(d) => d,
            Err(e) => {
                problems.add(0..0, None, e.to_string());
                return None;
            }
        };
        // One set serves both: the detector's URL patterns end with the
        // rules' own (each rule with patterns is a custom provider, added
        // after the policy's `[[providers]]`, in rule order).
        let sources = detector.url_patterns().map_or(&[][..], |(_, s)| s);
        let pattern_offset = sources.len() - all_patterns.len();
        debug_assert_eq!(sources[pattern_offset..], all_patterns[..]);
        let index = RuleIndex::new(&rules, &detector);
        let invitations = invitation_finder(&rules);
        let mut policy = Policy {
            raw,
            source_text: text.to_owned(),
            rules,
            detector,
            catalogue,
            pattern_offset,
            pattern_rule,
            host_filter: KeyFilter::new(
                &(index.hosts.keys())
                    .chain(index.suffixes.keys())
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            host_rules: index.hosts,
            suffix_rules: index.suffixes,
            provider_rules: index.providers,
            invitations,
            prefilter: std::sync::OnceLock::new(),
        };
        policy.check_alternatives_are_allowed(problems);
        // The rules as written were needed for their places in errors
        // only; a policy of thousands of rules would keep them twice.
        policy.raw.rules = Vec::new();
        Some(policy)
    }

    /// An alternative that the policy itself bans would make moderation loop
    /// (and leave a banned link in every rewrite): refuse it.
    ///
    /// A sample that holds none of the policy's prefilter keywords (the
    /// hosts and markers of every provider some rule bans) cannot be banned
    /// and is not run through detection: the default policy's Jitsi
    /// alternative would otherwise compile Jitsi's patterns at every start.
    fn check_alternatives_are_allowed(&self, problems: &mut Problems<'_>) {
        let key = RoomKey::new("validation");
        let mut prefilter = None;
        for (raw, rule) in self.raw.rules.iter().zip(&self.rules) {
            let Some(t) = &rule.alternative else { continue };
            let sample = t.render(
                &key,
                self.room_prefix(),
                "zoom",
                "https://zoom.us/j/123456789",
            );
            let prefilter = prefilter.get_or_insert_with(|| self.prefilter());
            if !prefilter.is_candidate(sample.as_bytes(), crate::prefilter::Encoding::Text) {
                continue;
            }
            for link in self.detector.find(&sample, Dialect::Any) {
                if let Some(other) = self.first_rule(&link, None, |_| true) {
                    let span = raw.alternative.as_ref().map_or(raw.id.span(), |a| a.span());
                    problems.add(
                        span,
                        Some(rule.id.as_str()),
                        format!(
                            "the alternative `{}` is itself banned by rule `{}`",
                            t.as_str(),
                            self.rules[other].id
                        ),
                    );
                    break;
                }
            }
        }
    }

    /// The policy text this was loaded from.
    pub fn source_text(&self) -> &str {
        &self.source_text
    }

    /// The policy's display name.
    pub fn name(&self) -> &str {
        self.raw.name.as_deref().unwrap_or("linkguard policy")
    }

    /// Whether other bots' messages are moderated, when the policy says
    /// (`moderate_bots`); `None` leaves it to the stored setting.
    pub fn moderate_bots(&self) -> Option<bool> {
        self.raw.moderate_bots
    }

    /// The policy-wide mode (`enforce` unless the policy says `monitor`).
    pub fn mode(&self) -> Mode {
        self.raw
            .mode
            .as_ref()
            .and_then(|m| Mode::parse(m.get_ref()))
            .unwrap_or(Mode::Enforce)
    }

    /// What `{prefix}` expands to.
    pub fn room_prefix(&self) -> &str {
        self.raw
            .room_prefix
            .as_ref()
            .map_or("linkguard", |p| p.get_ref().as_str())
    }

    /// How people ask for an exception, in the admin's words.
    pub fn exception_contact(&self) -> Option<&str> {
        self.raw.exception_contact.as_deref()
    }

    /// Providers the policy lists as approved.
    pub fn approved(&self) -> impl Iterator<Item = &str> {
        self.raw.approved.iter().map(|a| a.get_ref().as_str())
    }

    /// The rules, in file order (the first applicable rule decides).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A rule by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The provider catalogue in effect (built-in plus the policy's own).
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// A provider's display name (its id when the catalogue has none).
    pub fn provider_name<'s>(&'s self, id: &'s ProviderId) -> &'s str {
        self.catalogue
            .get(id.as_str())
            .map_or(id.as_str(), |p| p.display_name())
    }

    /// The compiled detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }
}

/// The built-in catalogue plus the policy's own `[[providers]]`, and the ids
/// it knows; reports bad providers and unknown `approved` names.
fn compile_catalogue(raw: &RawPolicy, problems: &mut Problems<'_>) -> (Catalogue, HashSet<String>) {
    let mut catalogue = Catalogue::builtin();
    for spec in &raw.providers {
        let id = spec.get_ref().id.clone();
        if let Err(e) = catalogue.add(spec.get_ref().clone()) {
            problems.add(spec.span(), None, format!("provider `{id}`: {e}"));
        }
    }
    let known: HashSet<String> = catalogue.ids().map(|p| p.as_str().to_owned()).collect();
    for name in &raw.approved {
        if !known.contains(name.get_ref().as_str()) {
            problems.add(name.span(), None, unknown_provider(name.get_ref(), &known));
        }
    }
    (catalogue, known)
}

/// One `[[rules]]` entry (`seen`: the ids of the rules before it), checked
/// field by field. Every problem is reported (with the rule's id) and a
/// usable stand-in kept, so that one bad field does not hide the problems of
/// the next. Long because it is one flat list of field checks in file order;
/// the ones with more than a line of logic have their own functions.
fn compile_rule(
    r: &RawRule,
    known: &HashSet<String>,
    seen: &mut HashSet<String>,
    problems: &mut Problems<'_>,
) -> Rule {
    let id = r.id.get_ref().clone();
    let rid = Some(id.as_str());
    let checked = RuleId::new(&id);
    if checked.is_none() {
        problems.add(
            r.id.span(),
            rid,
            "a rule id is lower-case letters, digits, `-` and `_` (at most 64)",
        );
    }
    if !seen.insert(id.clone()) {
        problems.add(r.id.span(), rid, format!("duplicate rule id `{id}`"));
    }
    let mut providers = Vec::new();
    for p in &r.providers {
        if known.contains(p.get_ref().as_str()) {
            providers.extend(ProviderId::new(p.get_ref()));
        } else {
            problems.add(p.span(), rid, unknown_provider(p.get_ref(), known));
        }
    }
    let mut hosts = Vec::new();
    for h in &r.hosts {
        match check_host_pattern(h.get_ref()) {
            Ok(h) => hosts.push(h),
            Err(m) => problems.add(h.span(), rid, m),
        }
    }
    let mut patterns = Vec::new();
    for p in &r.patterns {
        match check_pattern(p.get_ref()) {
            Ok(_) => patterns.push(p.get_ref().clone()),
            Err(m) => problems.add(p.span(), rid, m),
        }
    }
    if r.providers.is_empty() && r.hosts.is_empty() && r.patterns.is_empty() {
        problems.add(
            r.id.span(),
            rid,
            "the rule matches nothing: give it `providers`, `hosts` or `patterns`",
        );
    }
    let (action, alternative) = rule_action(r, problems);
    let mode = match &r.mode {
        None => Mode::Enforce,
        Some(m) => Mode::parse(m.get_ref()).unwrap_or_else(|| {
            problems.add(
                m.span(),
                rid,
                format!("unknown mode `{}` (use enforce or monitor)", m.get_ref()),
            );
            Mode::Enforce
        }),
    };
    let mut platforms = Vec::new();
    for p in &r.platforms {
        match Dialect::parse(p.get_ref()) {
            Some(Dialect::Any) | None => problems.add(
                p.span(),
                rid,
                format!("unknown platform `{}` (use slack or discord)", p.get_ref()),
            ),
            Some(d) => platforms.push(d),
        }
    }
    let detect_invitations = rule_detects_invitations(r, &providers, problems);
    let custom_provider = if hosts.is_empty() && patterns.is_empty() {
        None
    } else {
        ProviderId::new(&format!("rule:{id}"))
    };
    Rule {
        // An id that failed its check is reported above, so this policy is
        // refused; the rule is only compiled to find its other problems.
        id: checked.unwrap_or_else(|| RuleId(id.clone())),
        providers,
        hosts,
        patterns,
        action,
        alternative,
        reason: r.reason.clone().unwrap_or_default(),
        mode,
        platforms,
        workspaces: r.workspaces.clone(),
        channels: r.channels.clone(),
        exempt_users: r.exempt_users.clone(),
        exempt_roles: r.exempt_roles.clone(),
        exempt_channels: r.exempt_channels.clone(),
        detect_invitations,
        custom_provider,
    }
}

/// A rule's action and its alternative template, which `replace` and
/// `reply` need.
fn rule_action(r: &RawRule, problems: &mut Problems<'_>) -> (Action, Option<Template>) {
    let rid = Some(r.id.get_ref().as_str());
    let action = match Action::parse(r.action.as_ref().map_or("replace", |a| a.get_ref())) {
        Some(a) => a,
        None => {
            let a = r.action.as_ref().map(|a| (a.get_ref().clone(), a.span()));
            let (name, span) = a.unwrap_or_default();
            problems.add(
                span,
                rid,
                format!("unknown action `{name}` (use one of: replace, reply, delete, warn, log)"),
            );
            Action::Log
        }
    };
    let alternative = match &r.alternative {
        Some(t) => match Template::parse(t.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                // The span covers the quoted string: skip the opening quote.
                let start = t.span().start + 1 + e.offset;
                problems.add(start..start, rid, e.message);
                None
            }
        },
        None => None,
    };
    if alternative.is_none()
        && r.alternative.is_none()
        && matches!(action, Action::Replace | Action::Reply)
    {
        problems.add(
            r.id.span(),
            rid,
            format!(
                "action `{}` needs an `alternative` template",
                action.as_str()
            ),
        );
    }
    (action, alternative)
}

/// `detect_invitations`, which needs a provider whose invitations linkguard reads.
fn rule_detects_invitations(
    r: &RawRule,
    providers: &[ProviderId],
    problems: &mut Problems<'_>,
) -> bool {
    let Some(d) = r.detect_invitations.as_ref().filter(|d| *d.get_ref()) else {
        return false;
    };
    if !providers
        .iter()
        .any(|p| INVITATION_PROVIDERS.contains(&p.as_str()))
    {
        problems.add(
            d.span(),
            Some(r.id.get_ref()),
            format!(
                "`detect_invitations` needs one of the providers whose invitations linkguard reads in `providers`: {}",
                INVITATION_PROVIDERS.join(", ")
            ),
        );
    }
    true
}

/// The invitation finder and the providers some rule reads invitations of,
/// or `None` when no rule opts in.
fn invitation_finder(rules: &[Rule]) -> Option<(InvitationFinder, Vec<ProviderId>)> {
    let mut invited: Vec<ProviderId> = Vec::new();
    for rule in rules.iter().filter(|r| r.detect_invitations) {
        for p in &rule.providers {
            if INVITATION_PROVIDERS.contains(&p.as_str()) && !invited.contains(p) {
                invited.push(p.clone());
            }
        }
    }
    (!invited.is_empty()).then(|| (InvitationFinder::new(), invited))
}

fn unknown_provider(name: &str, known: &HashSet<String>) -> String {
    let mut ids: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|k| !k.starts_with("rule:"))
        .collect();
    ids.sort_unstable();
    let close: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|k| k.starts_with(&name[..name.len().min(2)]) || name.contains(k))
        .collect();
    if close.is_empty() {
        format!("unknown provider `{name}` (known: {})", ids.join(", "))
    } else {
        format!(
            "unknown provider `{name}` (did you mean {}?)",
            close.join(" or ")
        )
    }
}

#[cfg(test)]
mod tests;
