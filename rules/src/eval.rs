//! Evaluation: what a compiled policy says about one message.
//!
//! Evaluation cannot fail: every message gets a [`Verdict`], possibly with no
//! links at all. The first rule (in file order) whose matchers cover a link,
//! whose scope includes the message and whose exemptions do not cover its
//! author or channel decides that link.

use crate::policy::{Action, Mode, Policy, RoomKey, Rule};
use crate::rewrite;
use crate::{Dialect, Link};

/// Who posted a message, and where: what scopes and exemptions are checked
/// against.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageContext<'a> {
    /// The platform; [`Dialect::Any`] matches rules of every platform.
    pub platform: Dialect,
    /// Slack team id or Discord guild id.
    pub workspace: &'a str,
    /// Channel id (for threads, the parent channel).
    pub channel: &'a str,
    /// Author's user id.
    pub user: &'a str,
    /// Author's roles (Discord role ids, Slack user-group ids).
    pub roles: &'a [String],
    /// Whether a time-limited exception covers this author or channel.
    pub excepted: bool,
}

/// What the policy decided about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No rule bans it here.
    Allowed,
    /// A rule bans it.
    Blocked(Block),
}

/// The details of a ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The deciding rule's id.
    pub rule: String,
    /// What to do.
    pub action: Action,
    /// The approved alternative for this link, rendered.
    pub alternative: Option<String>,
    /// The reason, in the admin's words.
    pub reason: String,
    /// True when the rule or the policy is in monitor mode: record, don't act.
    pub monitor: bool,
}

/// One link and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkVerdict {
    /// The link as found.
    pub link: Link,
    /// The decision.
    pub decision: Decision,
}

impl LinkVerdict {
    /// The ban, if the link is banned.
    pub fn block(&self) -> Option<&Block> {
        match &self.decision {
            Decision::Blocked(b) => Some(b),
            Decision::Allowed => None,
        }
    }
}

/// What a policy says about a whole message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Every meeting-link occurrence in the message, in order.
    pub occurrences: Vec<LinkVerdict>,
}

impl Verdict {
    /// Each distinct (provider, canonical URL) once, in order of first appearance.
    pub fn distinct(&self) -> Vec<&LinkVerdict> {
        let mut out: Vec<&LinkVerdict> = Vec::new();
        for v in &self.occurrences {
            if !out
                .iter()
                .any(|o| o.link.url == v.link.url && o.link.provider == v.link.provider)
            {
                out.push(v);
            }
        }
        out
    }

    /// True when any link is banned (whether or not in monitor mode).
    pub fn is_blocked(&self) -> bool {
        self.occurrences.iter().any(|v| v.block().is_some())
    }

    /// The strongest action any enforced ban asks for, if any.
    pub fn action(&self) -> Option<Action> {
        self.occurrences
            .iter()
            .filter_map(LinkVerdict::block)
            .filter(|b| !b.monitor)
            .map(|b| b.action)
            .min_by_key(|a| match a {
                Action::Replace => 0,
                Action::Delete => 1,
                Action::Reply => 2,
                Action::Warn => 3,
                Action::Log => 4,
            })
    }

    /// The message with every banned link replaced by its alternative (see
    /// [`crate::rewrite`]). Links without an alternative are left as they are.
    pub fn rewrite(&self, text: &str, dialect: Dialect) -> String {
        rewrite::rewrite(text, dialect, &self.occurrences)
    }
}

impl Rule {
    /// Whether the rule's scope includes the message and no exemption covers it.
    pub fn applies(&self, ctx: &MessageContext<'_>) -> bool {
        let listed = |list: &[String], v: &str| list.iter().any(|x| x == v);
        (self.platforms.is_empty()
            || ctx.platform == Dialect::Any
            || self.platforms.contains(&ctx.platform))
            && (self.workspaces.is_empty() || listed(&self.workspaces, ctx.workspace))
            && (self.channels.is_empty() || listed(&self.channels, ctx.channel))
            && !listed(&self.exempt_users, ctx.user)
            && !listed(&self.exempt_channels, ctx.channel)
            && !ctx.roles.iter().any(|r| listed(&self.exempt_roles, r))
    }
}

impl Policy {
    /// Decides every meeting link in `text`. Never fails.
    pub fn evaluate(&self, text: &str, ctx: &MessageContext<'_>, key: &RoomKey) -> Verdict {
        let dialect = ctx.platform;
        // The URL pattern that found each link, if one did: its rule need
        // not be searched for again (see `Policy::first_rule`). Only asked
        // for when some rule has patterns (else the list stays empty and
        // unallocated, and every link counts as found otherwise).
        let mut patterns = Vec::new();
        let hinted = !self.pattern_rule.is_empty();
        let mut links = self
            .detector
            .find_hinted(text, dialect, hinted.then_some(&mut patterns));
        if let Some((finder, providers)) = &self.invitations {
            let wanted = |p: &str| providers.iter().any(|x| x.as_str() == p);
            let blocks = finder.find(text, &wanted);
            if !blocks.is_empty() {
                // A block never overlaps a link: the link is the finding there.
                let overlaps = |b: &Link| {
                    links
                        .iter()
                        .any(|l| l.span.start < b.span.end && b.span.start < l.span.end)
                };
                let blocks: Vec<Link> = blocks.into_iter().filter(|b| !overlaps(b)).collect();
                patterns.resize(links.len(), None);
                let mut all: Vec<(Link, Option<usize>)> = links.into_iter().zip(patterns).collect();
                all.extend(blocks.into_iter().map(|b| (b, None)));
                all.sort_by_key(|(l, _)| l.span.start);
                (links, patterns) = all.into_iter().unzip();
            }
        }
        if links.is_empty() {
            return Verdict::default();
        }
        let occurrences = links
            .into_iter()
            .enumerate()
            .map(|(i, link)| {
                let pattern = patterns.get(i).copied().flatten();
                let decision = self.decide_found(&link, pattern, ctx, key);
                LinkVerdict { link, decision }
            })
            .collect();
        Verdict { occurrences }
    }

    /// A conservative raw-bytes prefilter for the links this policy acts on
    /// (see [`crate::prefilter`]): the hosts, schemes and path literals of
    /// every provider some rule bans. Matches everything when a rule has
    /// `patterns`, which can ban links on any host.
    pub fn prefilter(&self) -> crate::prefilter::Prefilter {
        self.prefilter
            .get_or_init(|| self.build_prefilter())
            .clone()
    }

    fn build_prefilter(&self) -> crate::prefilter::Prefilter {
        use crate::prefilter::Prefilter;
        if !self.pattern_rule.is_empty() {
            return Prefilter::all();
        }
        let relevant = |p: &crate::ProviderId| self.provider_rules.contains_key(p);
        self.detector
            .keywords(&relevant)
            .map(|mut k| {
                // An invitation block starts with one of these labels.
                if self.invitations.is_some() {
                    k.extend(
                        crate::detect::INVITATION_KEYWORDS
                            .iter()
                            .map(|w| (*w).to_owned()),
                    );
                }
                k
            })
            .and_then(|k| Prefilter::from_keywords(&k))
            .unwrap_or_else(Prefilter::all)
    }

    /// The rule that would decide a link of `provider` posted in `ctx`, if
    /// any bans the provider as a whole (for "can I use zoom?").
    pub fn rule_for_provider(&self, provider: &str, ctx: &MessageContext<'_>) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.providers.iter().any(|p| p.as_str() == provider) && r.applies(ctx))
    }

    /// Decides one link.
    pub fn decide(&self, link: &Link, ctx: &MessageContext<'_>, key: &RoomKey) -> Decision {
        self.decide_found(link, None, ctx, key)
    }

    /// [`Policy::decide`] for a link the detector found by URL pattern
    /// `pattern` (`None`: found otherwise, or not known).
    fn decide_found(
        &self,
        link: &Link,
        pattern: Option<usize>,
        ctx: &MessageContext<'_>,
        key: &RoomKey,
    ) -> Decision {
        if ctx.excepted {
            return Decision::Allowed;
        }
        // An invitation block is decided only by the rules that opted in.
        let invitation = crate::detect::is_invitation(&link.url);
        let Some(i) = self.first_rule(link, pattern, |i| {
            (!invitation || self.rules[i].detect_invitations) && self.rules[i].applies(ctx)
        }) else {
            return Decision::Allowed;
        };
        let rule = &self.rules[i];
        Decision::Blocked(Block {
            rule: rule.id.as_str().to_owned(),
            action: rule.action,
            alternative: rule
                .alternative
                .as_ref()
                .map(|t| t.render(key, self.room_prefix(), link.provider.as_str(), &link.url)),
            reason: rule.reason.clone(),
            monitor: rule.mode == Mode::Monitor || self.mode() == Mode::Monitor,
        })
    }
}
