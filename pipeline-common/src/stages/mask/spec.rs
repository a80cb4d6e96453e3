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

impl CustomMaskRule {
    /// A `{name, regex, replacement}` rule at `at`; `None` (errors pushed) when invalid.
    fn parse(
        v: &Value,
        at: String,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        let c = Fields::object(v, at, errs)?;
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
        Some(CustomMaskRule {
            name: name?.to_owned(),
            regex: regex?,
            replacement: replacement.to_owned(),
        })
    }
}

impl MaskRule {
    /// One entry of `rules` at `at`: a built-in rule's name or a custom rule object.
    fn parse(
        v: &Value,
        at: String,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<Self> {
        match v {
            Value::String(s) => match s.as_str() {
                "email" => Some(MaskRule::Email),
                "ipv4" => Some(MaskRule::Ipv4),
                "ipv6" => Some(MaskRule::Ipv6),
                "credit_card" => Some(MaskRule::CreditCard),
                other => {
                    errs.push(at, format!("unknown rule {other:?}; expected email, ipv4, ipv6, credit_card or {{name, regex, replacement}}"));
                    None
                }
            },
            Value::Object(_) => CustomMaskRule::parse(v, at, ctx, errs).map(MaskRule::Custom),
            other => {
                errs.push(
                    at,
                    format!("must be a string or an object, not {}", type_name(other)),
                );
                None
            }
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
                let Some(rule) = MaskRule::parse(v, at.clone(), ctx, errs) else {
                    continue;
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
        spec.check_replacements_not_rematched(f, errs);
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

    /// A replacement that another custom rule would match again breaks idempotence.
    fn check_replacements_not_rematched(&self, f: &Fields<'_>, errs: &mut ValidationErrors) {
        let customs: Vec<&CustomMaskRule> = self
            .rules
            .iter()
            .filter_map(|r| match r {
                MaskRule::Custom(c) => Some(c),
                _ => None,
            })
            .collect();
        for (i, rule) in self.rules.iter().enumerate() {
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

#[cfg(feature = "openapi")]
impl MaskSpec {
    /// The schema of a `mask` stage object.
    pub(crate) fn json_schema() -> Value {
        use crate::stages::schema::{path_list, pattern_name, stage};
        // One that matches the empty string would redact between every character: refused.
        let regex = json!({
            "type": "string", "minLength": 1, "maxLength": crate::model::MAX_REGEX_SOURCE,
            "description": "a regex that does not match the empty string",
        });
        let built_in = [
            MaskRule::Email,
            MaskRule::Ipv4,
            MaskRule::Ipv6,
            MaskRule::CreditCard,
        ];
        let modes = [Ipv4Mode::Partial, Ipv4Mode::Redact, Ipv4Mode::Hash].map(Ipv4Mode::as_str);
        stage(
            crate::failure::FailedAt::Mask,
            "redacts PII in every string field, or in `fields`",
            json!({
                "rules": {
                    "type": ["array", "null"], "minItems": 1, "maxItems": MAX_STAGE_LIST,
                    "uniqueItems": true,
                    "items": {"oneOf": [
                        {"type": "string", "enum": built_in.iter().map(MaskRule::name).collect::<Vec<_>>()},
                        {
                            "type": "object", "additionalProperties": false,
                            "required": ["name", "regex"],
                            "properties": {
                                "name": pattern_name(), "regex": regex,
                                "replacement": {
                                    "type": ["string", "null"], "maxLength": 256,
                                    "pattern": "^[^0-9@:]*$",
                                },
                            },
                        },
                    ]},
                },
                "ipv4": {"type": ["string", "null"], "enum": [modes[0], modes[1], modes[2], null]},
                "salt": {"type": ["string", "null"], "description": "required, 8 bytes or more, with ipv4: hash"},
                "fields": path_list(),
            }),
            &[],
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{PipelineDefinition, ValidationContext};
    use serde_json::json;

    /// Every error of one invalid mask stage, as `(field, message)`.
    fn errors_of(mask: serde_json::Value) -> Vec<(String, String)> {
        let j = json!({"name": "a", "stages": [mask]});
        let e = PipelineDefinition::parse(&j, &ValidationContext::new(true)).unwrap_err();
        e.errors()
            .iter()
            .map(|f| (f.field.clone(), f.message.clone()))
            .collect()
    }

    const UNKNOWN: &str =
        "unknown rule \"sms\"; expected email, ipv4, ipv6, credit_card or {name, regex, replacement}";

    #[test]
    fn rule_errors_keep_their_field_paths_and_messages() {
        let got = errors_of(json!({"type": "mask", "rules": [
            "email", "sms", 3, "email",
            {"name": "bad name", "regex": "x+", "replacement": "[X1]"},
            {"name": "empty", "regex": "a*"},
            {"name": "extra", "regex": "z+", "extra": 1},
            {"regex": "y"}
        ]}));
        let want = [
            ("stages[0].rules[1]", UNKNOWN),
            (
                "stages[0].rules[2]",
                "must be a string or an object, not a number",
            ),
            ("stages[0].rules[3]", "listed twice"),
            ("stages[0].rules[4].name", "must be 1-64 of [A-Za-z0-9_-]"),
            (
                "stages[0].rules[4].replacement",
                "must not contain digits, '@' or ':' (masking must stay idempotent)",
            ),
            ("stages[0].rules[5].regex", "regex matches the empty string"),
            (
                "stages[0].rules[6].extra",
                "unknown field; expected one of: name, regex, replacement",
            ),
            ("stages[0].rules[7].name", "is required"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_replacement_matched_by_a_custom_rule_is_an_error() {
        let got = errors_of(json!({"type": "mask", "rules": [
            "email", {"name": "loop", "regex": "R+", "replacement": "RR"}
        ]}));
        assert_eq!(
            got,
            [(
                "stages[0].rules[1].replacement".to_owned(),
                "is matched by rule \"loop\", so masking would not be idempotent".to_owned()
            )]
        );
    }
}
