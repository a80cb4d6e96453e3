//! Bearer-token authentication and role checks.
//!
//! Tokens are configured as sha256 digests (`auth.tokens`). A request's token is hashed once and
//! compared against every configured digest in constant time, without stopping at the first
//! match, so timing reveals neither which digest matched nor how much of one did.
//!
//! Handlers declare what they need with an extractor ([`CanRead`], [`CanWrite`], [`CanIngest`]).
//! Extractors of request parts run before the body is read, so an unauthenticated request gets
//! 401 and a forbidden one 403 before any body is parsed.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use pipeline_common::config::{AuthSettings, Role};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's configured name; recorded as `createdBy` and in the audit trail.
    pub name: String,
    /// The token's role.
    pub role: Role,
}

/// What an endpoint does, for the role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET endpoints.
    Read,
    /// Create, update, state change, delete, dry-run.
    Write,
    /// POST events.
    Ingest,
}

impl Action {
    fn allowed_for(self, role: Role) -> bool {
        matches!(
            (role, self),
            (Role::Admin, _)
                | (Role::Editor, Action::Read | Action::Write)
                | (Role::Viewer, Action::Read)
                | (Role::Ingest, Action::Ingest)
        )
    }
}

#[derive(Debug, Clone)]
struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// The configured tokens, ready for constant-time lookup.
#[derive(Debug, Clone)]
pub struct TokenStore {
    tokens: Vec<Token>,
}

impl TokenStore {
    /// Reads `auth.tokens`; digests were validated as 64 hex characters when configuration loaded.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let tokens = settings
            .tokens
            .iter()
            .map(|t| {
                let bytes = hex::decode(&t.sha256)?;
                let digest: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("auth.tokens: a sha256 digest is 32 bytes"))?;
                Ok(Token {
                    name: t.name.clone(),
                    role: t.role,
                    digest,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(TokenStore { tokens })
    }

    /// The principal whose token is `bearer`, if any.
    pub fn authenticate(&self, bearer: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        // Scan every token; remember the match with constant-time selects, not branches.
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u32;
        for (i, token) in self.tokens.iter().enumerate() {
            let hit = token.digest.ct_eq(&digest);
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            index = u32::conditional_select(&index, &i, hit);
            found |= hit;
        }
        if bool::from(found) {
            let token = self.tokens.get(index as usize)?;
            Some(Principal {
                name: token.name.clone(),
                role: token.role,
            })
        } else {
            None
        }
    }

    fn authorize(&self, parts: &Parts, action: Action) -> Result<Principal, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (scheme, token) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized);
        }
        let principal = self
            .authenticate(token.trim())
            .ok_or(ApiError::Unauthorized)?;
        if action.allowed_for(principal.role) {
            Ok(principal)
        } else {
            Err(ApiError::Forbidden(format!(
                "role {:?} may not do this",
                principal.role
            )))
        }
    }
}

macro_rules! guard {
    ($(#[$doc:meta])* $name:ident, $action:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                state.tokens.authorize(parts, $action).map($name)
            }
        }
    };
}

guard!(
    /// A caller allowed to read (viewer, editor, admin).
    CanRead,
    Action::Read
);
guard!(
    /// A caller allowed to change pipelines (editor, admin).
    CanWrite,
    Action::Write
);
guard!(
    /// A caller allowed to post events (ingest, admin).
    CanIngest,
    Action::Ingest
);

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_common::config::TokenSettings;

    fn store() -> TokenStore {
        let token = |name: &str, role, secret: &str| TokenSettings {
            name: name.into(),
            role,
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        };
        TokenStore::new(&AuthSettings {
            tokens: vec![
                token("v", Role::Viewer, "viewer-secret"),
                token("e", Role::Editor, "editor-secret"),
            ],
        })
        .unwrap()
    }

    #[test]
    fn finds_the_matching_token() {
        let store = store();
        assert_eq!(store.authenticate("editor-secret").unwrap().name, "e");
        assert_eq!(store.authenticate("viewer-secret").unwrap().name, "v");
        assert!(store.authenticate("nope").is_none());
        assert!(store.authenticate("").is_none());
    }

    #[test]
    fn roles_map_to_actions() {
        assert!(Action::Read.allowed_for(Role::Viewer));
        assert!(!Action::Write.allowed_for(Role::Viewer));
        assert!(Action::Write.allowed_for(Role::Editor));
        assert!(!Action::Ingest.allowed_for(Role::Editor));
        assert!(Action::Ingest.allowed_for(Role::Ingest));
        assert!(!Action::Read.allowed_for(Role::Ingest));
        assert!(Action::Ingest.allowed_for(Role::Admin));
    }
}
