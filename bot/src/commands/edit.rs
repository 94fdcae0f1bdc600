//! Editing policy text: each chat or CLI edit is a change to the TOML
//! document, made with `toml_edit` so the admin's comments and layout
//! survive, then validated by the same loader as a policy file before it is
//! stored as a new version.

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

/// Fields of a rule that `rules set` may change, and whether each is a list.
pub const RULE_FIELDS: &[(&str, bool)] = &[
    ("providers", true),
    ("hosts", true),
    ("patterns", true),
    ("action", false),
    ("alternative", false),
    ("reason", false),
    ("mode", false),
    ("platforms", true),
    ("workspaces", true),
    ("channels", true),
    ("exempt_users", true),
    ("exempt_roles", true),
    ("exempt_channels", true),
    ("detect_invitations", false),
];

/// Rule fields whose value is `true` or `false`.
const BOOL_FIELDS: &[&str] = &["detect_invitations"];

fn parse(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>()
        .map_err(|e| format!("the stored policy is not valid TOML: {e}"))
}

fn rules_mut(doc: &mut DocumentMut) -> Result<&mut ArrayOfTables, String> {
    if !doc.contains_key("rules") {
        doc.insert("rules", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    doc["rules"]
        .as_array_of_tables_mut()
        .ok_or_else(|| "`rules` in the policy is not an array of tables".to_owned())
}

fn find<'a>(rules: &'a mut ArrayOfTables, id: &str) -> Option<&'a mut Table> {
    rules
        .iter_mut()
        .find(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))
}

fn field_value(field: &str, raw: &str) -> Result<Item, String> {
    let Some((_, is_list)) = RULE_FIELDS.iter().find(|(f, _)| *f == field) else {
        return Err(format!(
            "unknown field `{field}` (fields: {})",
            RULE_FIELDS
                .iter()
                .map(|(f, _)| *f)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if BOOL_FIELDS.contains(&field) {
        return match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" => Ok(value(true)),
            "false" | "off" | "no" => Ok(value(false)),
            other => Err(format!("`{field}` is true or false, not `{other}`")),
        };
    }
    if *is_list {
        let mut a = Array::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            a.push(part);
        }
        Ok(value(a))
    } else {
        Ok(value(raw))
    }
}

/// Appends a rule built from `fields` (`(field, value)` pairs).
pub fn add_rule(text: &str, id: &str, fields: &[(String, String)]) -> Result<String, String> {
    let mut doc = parse(text)?;
    let rules = rules_mut(&mut doc)?;
    if find(rules, id).is_some() {
        return Err(format!("a rule with id `{id}` already exists"));
    }
    let mut t = Table::new();
    t.insert("id", value(id));
    for (f, v) in fields {
        if f == "id" {
            return Err("the id is given first, not as a field".into());
        }
        t.insert(f, field_value(f, v)?);
    }
    rules.push(t);
    Ok(doc.to_string())
}

/// Removes rule `id`.
pub fn remove_rule(text: &str, id: &str) -> Result<String, String> {
    let mut doc = parse(text)?;
    let rules = rules_mut(&mut doc)?;
    let index = rules
        .iter()
        .position(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))
        .ok_or_else(|| format!("no rule `{id}`"))?;
    rules.remove(index);
    Ok(doc.to_string())
}

/// Sets one field of rule `id`; an empty value removes the field.
pub fn set_field(text: &str, id: &str, field: &str, raw: &str) -> Result<String, String> {
    let mut doc = parse(text)?;
    let rules = rules_mut(&mut doc)?;
    let rule = find(rules, id).ok_or_else(|| format!("no rule `{id}`"))?;
    if field == "id" {
        return Err("a rule's id cannot be changed; add a new rule and remove this one".into());
    }
    let item = field_value(field, raw)?;
    if raw.trim().is_empty() {
        rule.remove(field);
    } else {
        rule.insert(field, item);
    }
    Ok(doc.to_string())
}

/// Sets the policy-wide `moderate_bots`.
pub fn set_moderate_bots(text: &str, on: bool) -> Result<String, String> {
    let mut doc = parse(text)?;
    doc.insert("moderate_bots", value(on));
    Ok(doc.to_string())
}

/// Sets the policy-wide `mode`.
pub fn set_mode(text: &str, mode: &str) -> Result<String, String> {
    let mut doc = parse(text)?;
    doc.insert("mode", value(mode));
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# our policy\nmode = \"enforce\"\n\n[[rules]]\nid = \"no-zoom\" # the founding rule\nproviders = [\"zoom\"]\nalternative = \"https://meet.jit.si/{room}\"\n";

    #[test]
    fn edits_keep_comments_and_change_only_what_was_asked() {
        let out = set_field(TEXT, "no-zoom", "reason", "use Jitsi").unwrap();
        assert!(
            out.contains("# our policy") && out.contains("# the founding rule"),
            "{out}"
        );
        assert!(out.contains("reason = \"use Jitsi\""), "{out}");
        let out = set_field(&out, "no-zoom", "providers", "zoom, webex").unwrap();
        assert!(out.contains("providers = [\"zoom\", \"webex\"]"), "{out}");
        let out = add_rule(
            &out,
            "log-teams",
            &[
                ("providers".into(), "teams".into()),
                ("action".into(), "log".into()),
            ],
        )
        .unwrap();
        assert!(out.contains("id = \"log-teams\""), "{out}");
        assert!(add_rule(&out, "log-teams", &[])
            .unwrap_err()
            .contains("already exists"));
        let out = remove_rule(&out, "log-teams").unwrap();
        assert!(!out.contains("log-teams"));
        let out = set_mode(&out, "monitor").unwrap();
        assert!(out.contains("mode = \"monitor\""));
        assert!(set_field(&out, "nope", "reason", "x")
            .unwrap_err()
            .contains("no rule `nope`"));
        assert!(set_field(&out, "no-zoom", "colour", "x")
            .unwrap_err()
            .contains("unknown field `colour`"));
    }

    #[test]
    fn detect_invitations_is_a_boolean() {
        let out = set_field(TEXT, "no-zoom", "detect_invitations", "on").unwrap();
        assert!(out.contains("detect_invitations = true"), "{out}");
        let out = set_field(&out, "no-zoom", "detect_invitations", "false").unwrap();
        assert!(out.contains("detect_invitations = false"), "{out}");
        assert!(set_field(&out, "no-zoom", "detect_invitations", "maybe")
            .unwrap_err()
            .contains("true or false"));
    }
}
