//! The `mask` stage's configuration: validation and JSON form.

use crate::model::reader::{type_name, Fields};
use crate::model::{FieldPath, UserRegex, ValidationContext, ValidationErrors};
use crate::stages::spec::{path_list, valid_pattern_name, MAX_STAGE_LIST};
use serde_json::{json, Value};

/// How the mask stage rewrites IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ipv4Mode {
    /// Keep the first octet: `192.168.1.9` → `192.x.x.x`.
    #[default]
    Partial,
    /// `[IPV4_REDACTED]`.
    Redact,
    /// `[IPV4_HASH:<12 hex>]`, a salted sha256 prefix, so equal addresses stay joinable.
    Hash,
}

impl Ipv4Mode {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            Ipv4Mode::Partial => "partial",
            Ipv4Mode::Redact => "redact",
            Ipv4Mode::Hash => "hash",
        }
    }
}

/// A custom mask rule: every match of `regex` becomes `replacement` (taken literally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomMaskRule {
    /// A name for the rule.
    pub name: String,
    /// What to redact.
    pub regex: UserRegex,
    /// The literal replacement text.
    pub replacement: String,
}

/// One rule of the mask stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskRule {
    /// Email addresses → `[EMAIL_REDACTED]`.
    Email,
    /// IPv4 addresses, as [`MaskSpec::ipv4`] says.
    Ipv4,
    /// IPv6 addresses → `[IPV6_REDACTED]`.
    Ipv6,
    /// Luhn-valid card numbers, 13–19 digits with optional spaces or dashes → `[CC_REDACTED]`.
    CreditCard,
    /// A user regex.
    Custom(CustomMaskRule),
}

impl MaskRule {
    /// The rule's name as written.
    pub fn name(&self) -> &str {
        match self {
            MaskRule::Email => "email",
            MaskRule::Ipv4 => "ipv4",
            MaskRule::Ipv6 => "ipv6",
            MaskRule::CreditCard => "credit_card",
            MaskRule::Custom(c) => &c.name,
        }
    }
}

/// `mask` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSpec {
    /// The rules (default: email, ipv4, ipv6, credit_card). Built-in rules always run in the order
    /// ipv6, ipv4, credit_card, email (so that no rule's output feeds another); custom rules follow
    /// in the order listed.
    pub rules: Vec<MaskRule>,
    /// IPv4 treatment (default `partial`).
    pub ipv4: Ipv4Mode,
    /// Salt for `ipv4: hash`; required in that mode.
    pub salt: Option<String>,
    /// Only these subtrees are masked; `None` masks every string field (values and keys).
    pub fields: Option<Vec<FieldPath>>,
}

impl Default for MaskSpec {
    fn default() -> Self {
        MaskSpec {
            rules: vec![
                MaskRule::Email,
                MaskRule::Ipv4,
                MaskRule::Ipv6,
                MaskRule::CreditCard,
            ],
            ipv4: Ipv4Mode::Partial,
            salt: None,
            fields: None,
        }
    }
}

impl MaskSpec {
    pub(crate) fn parse(
        f: &Fields<'_>,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        f.deny_unknown(&["type", "rules", "ipv4", "salt", "fields"], &[], errs);
        let mut spec = MaskSpec::default();
        if let Some(items) = f.array("rules", MAX_STAGE_LIST, errs) {
            spec.rules.clear();
            for (at, v) in items {
                let rule = match v {
                    Value::String(s) => match s.as_str() {
                        "email" => MaskRule::Email,
                        "ipv4" => MaskRule::Ipv4,
                        "ipv6" => MaskRule::Ipv6,
                        "credit_card" => MaskRule::CreditCard,
                        other => {
                            errs.push(at, format!("unknown rule {other:?}; expected email, ipv4, ipv6, credit_card or {{name, regex, replacement}}"));
                            continue;
                        }
                    },
                    Value::Object(_) => {
                        let Some(c) = Fields::object(v, at.clone(), errs) else {
                            continue;
                        };
                        c.deny_unknown(&["name", "regex", "replacement"], &[], errs);
                        let name = c.required_str("name", errs);
                        if name.is_some_and(|n| !valid_pattern_name(n)) {
                            errs.push(c.path("name"), "must be 1-64 of [A-Za-z0-9_-]");
                        }
                        let regex = c.required_str("regex", errs).and_then(|src| {
                            UserRegex::compile(src, ctx.regex_size_limit)
                                .and_then(|r| {
                                    if r.regex().is_match("") {
                                        Err("regex matches the empty string".to_owned())
                                    } else {
                                        Ok(r)
                                    }
                                })
                                .map_err(|e| errs.push(c.path("regex"), e))
                                .ok()
                        });
                        let replacement = c.str("replacement", errs).unwrap_or("[REDACTED]");
                        if replacement.len() > 256 {
                            errs.push(c.path("replacement"), "at most 256 bytes");
                        }
                        if replacement
                            .bytes()
                            .any(|b| b.is_ascii_digit() || b == b'@' || b == b':')
                        {
                            errs.push(
                                c.path("replacement"),
                                "must not contain digits, '@' or ':' (masking must stay idempotent)",
                            );
                        }
                        match (name, regex) {
                            (Some(name), Some(regex)) => MaskRule::Custom(CustomMaskRule {
                                name: name.to_owned(),
                                regex,
                                replacement: replacement.to_owned(),
                            }),
                            _ => continue,
                        }
                    }
                    other => {
                        errs.push(
                            at,
                            format!("must be a string or an object, not {}", type_name(other)),
                        );
                        continue;
                    }
                };
                if spec.rules.iter().any(|r| r.name() == rule.name()) {
                    errs.push(at, "listed twice");
                } else {
                    spec.rules.push(rule);
                }
            }
            if spec.rules.is_empty() {
                errs.push(f.path("rules"), "must not be empty");
            }
        }
        // A replacement that another custom rule would match again breaks idempotence.
        let customs: Vec<&CustomMaskRule> = spec
            .rules
            .iter()
            .filter_map(|r| match r {
                MaskRule::Custom(c) => Some(c),
                _ => None,
            })
            .collect();
        for (i, rule) in spec.rules.iter().enumerate() {
            let MaskRule::Custom(c) = rule else { continue };
            if let Some(other) = customs
                .iter()
                .find(|o| o.regex.regex().is_match(&c.replacement))
            {
                errs.push(
                    format!("{}[{i}].replacement", f.path("rules")),
                    format!(
                        "is matched by rule {:?}, so masking would not be idempotent",
                        other.name
                    ),
                );
            }
        }
        match f.str("ipv4", errs) {
            None => {}
            Some("partial") => spec.ipv4 = Ipv4Mode::Partial,
            Some("redact") => spec.ipv4 = Ipv4Mode::Redact,
            Some("hash") => spec.ipv4 = Ipv4Mode::Hash,
            Some(_) => errs.push(
                f.path("ipv4"),
                "must be \"partial\", \"redact\" or \"hash\"",
            ),
        }
        spec.salt = f.str("salt", errs).map(str::to_owned);
        if spec.ipv4 == Ipv4Mode::Hash && spec.rules.contains(&MaskRule::Ipv4) {
            match &spec.salt {
                None => errs.push(f.path("salt"), "is required when ipv4 is \"hash\""),
                Some(s) if s.len() < 8 => errs.push(f.path("salt"), "must be at least 8 bytes"),
                _ => {}
            }
        }
        spec.fields = path_list(f, "fields", errs);
        Some(spec)
    }

    /// The canonical REST form, every default spelled out.
    pub(crate) fn to_json(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| match r {
                MaskRule::Custom(c) => json!({
                    "name": c.name, "regex": c.regex.as_str(), "replacement": c.replacement
                }),
                builtin => Value::String(builtin.name().to_owned()),
            })
            .collect();
        let mut v = json!({"type": crate::failure::FailedAt::Mask.as_str(), "rules": rules, "ipv4": self.ipv4.as_str()});
        if let Some(salt) = &self.salt {
            v["salt"] = Value::String(salt.clone());
        }
        if let Some(fields) = &self.fields {
            v["fields"] = fields.iter().map(|f| f.as_str()).collect();
        }
        v
    }
}
