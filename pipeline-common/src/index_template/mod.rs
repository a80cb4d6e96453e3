//! A pipeline's OpenSearch index template, derived from its definition by pure functions: the
//! `indexing` object ([`IndexingSpec`]), the mapping of the fields the stage chain writes
//! ([`mappings`]), and the composable template that carries both ([`template_body`]), claiming
//! exactly the pipeline's indices ([`IndexClaim`]).
//!
//! Why a derived mapping rather than dynamic mapping: dynamic mapping indexes every string twice
//! (`text` plus a `keyword` sub-field), types IP addresses as text and geo points as two floats,
//! and lets the first event decide each field's type.

mod mapping;
mod retention;
mod spec;
mod template;

pub use mapping::{
    chain_fields, leaf_mapping, mappings, override_conflicts, FieldMap, Leaf, KEYWORD_IGNORE_ABOVE,
};
pub use retention::{supports_retention, Retention, RETENTION_PATTERN};
pub use spec::{
    Codec, FieldType, IndexingSpec, RefreshInterval, MAX_FIELD_OVERRIDES, MAX_REPLICAS, MAX_SHARDS,
    SERVER_FIELDS,
};
pub use template::{
    definition_mappings, index_settings, template_body, template_name, IndexClaim, IndexSettings,
    TemplateDefaults, TemplateMeta, TEMPLATE_PRIORITY,
};

#[cfg(test)]
mod tests;
