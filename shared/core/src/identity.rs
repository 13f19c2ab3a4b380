//! Who is calling and what they may do, from a verified token's claims
//! (DESIGN.md, "Permissions"). The institution (tenant) comes only from
//! here; permissions are per school.
//!
//! Claims (strings, as API Gateway's JWT authorizer passes them):
//! - `sub`, `email`;
//! - `institution`: the institution id;
//! - `permissions`: space-separated `school=permission` pairs, e.g.
//!   `norte=certificacion:ver norte=certificacion.timbrar:editar`. (API
//!   Gateway flattens claim arrays to `[a b]`; brackets are accepted.)

use crate::records::{Actor, Tenant};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A permission, per school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// `certificacion:ver`: see, download, verify, preview.
    Ver,
    /// `certificacion.timbrar:editar`: issue, cancel, email.
    Timbrar,
    /// `certificacion.editar:editar`: edit grades for certification, load records.
    Editar,
    /// `certificacion:administrar`: register the school's signer and e.firma.
    Administrar,
}

impl Permission {
    pub fn claim(self) -> &'static str {
        match self {
            Permission::Ver => "certificacion:ver",
            Permission::Timbrar => "certificacion.timbrar:editar",
            Permission::Editar => "certificacion.editar:editar",
            Permission::Administrar => "certificacion:administrar",
        }
    }

    /// From the claim text, or the short names `ver`, `timbrar`, `editar`, `administrar`.
    pub fn parse(s: &str) -> Option<Self> {
        [Permission::Ver, Permission::Timbrar, Permission::Editar, Permission::Administrar].into_iter().find(|p| {
            p.claim() == s
                || matches!(
                    (p, s),
                    (Permission::Ver, "ver")
                        | (Permission::Timbrar, "timbrar")
                        | (Permission::Editar, "editar")
                        | (Permission::Administrar, "administrar")
                )
        })
    }
}

/// Why a caller may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("falta el token de acceso o no es válido; inicie sesión de nuevo")]
    Unauthenticated,
    #[error("el token no indica la institución del usuario")]
    NoInstitution,
    /// The school is not one the caller may see: answered as "not found", so
    /// another institution's ids reveal nothing.
    #[error("no existe la escuela {0} o no tiene acceso a ella")]
    UnknownSchool(String),
    #[error("no tiene el permiso «{permission}» en la escuela {school}")]
    Forbidden { school: String, permission: &'static str },
}

impl AccessError {
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::Unauthenticated => "no_autenticado",
            AccessError::NoInstitution => "sin_institucion",
            AccessError::UnknownSchool(_) => "escuela_no_encontrada",
            AccessError::Forbidden { .. } => "sin_permiso",
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    tenant: Tenant,
    schools: BTreeMap<String, BTreeSet<Permission>>,
}

impl Identity {
    /// From claims a verifier has already checked (signature, issuer,
    /// audience, expiry). Unknown permissions are ignored.
    pub fn from_claims(
        sub: &str,
        email: Option<&str>,
        institution: Option<&str>,
        permissions: Option<&str>,
    ) -> Result<Self, AccessError> {
        let institution = institution.map(str::trim).filter(|i| !i.is_empty()).ok_or(AccessError::NoInstitution)?;
        if sub.trim().is_empty() {
            return Err(AccessError::Unauthenticated);
        }
        let mut schools: BTreeMap<String, BTreeSet<Permission>> = BTreeMap::new();
        let text = permissions.unwrap_or_default().trim().trim_start_matches('[').trim_end_matches(']');
        for pair in text.split([' ', ',']).filter(|p| !p.is_empty()) {
            if let Some((school, perm)) = pair.split_once('=')
                && let Some(p) = Permission::parse(perm)
                && !school.is_empty()
            {
                schools.entry(school.to_string()).or_default().insert(p);
            }
        }
        Ok(Identity {
            sub: sub.to_string(),
            email: email.map(str::to_string),
            tenant: Tenant::from_verified_identity(institution),
            schools,
        })
    }

    /// The `permissions` claim for these grants (the inverse of parsing).
    pub fn permissions_claim(grants: &[(&str, Permission)]) -> String {
        grants.iter().map(|(s, p)| format!("{s}={}", p.claim())).collect::<Vec<_>>().join(" ")
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The schools the caller may see (holding `certificacion:ver`).
    pub fn visible_schools(&self) -> impl Iterator<Item = &str> {
        self.schools.iter().filter(|(_, p)| p.contains(&Permission::Ver)).map(|(s, _)| s.as_str())
    }

    /// Refuses unless the caller holds `permission` in `school`. A school the
    /// caller cannot even see is "not found".
    pub fn require(&self, school: &str, permission: Permission) -> Result<(), AccessError> {
        let granted = self.schools.get(school);
        if !granted.is_some_and(|p| p.contains(&Permission::Ver)) {
            return Err(AccessError::UnknownSchool(school.to_string()));
        }
        if granted.is_some_and(|p| p.contains(&permission)) {
            Ok(())
        } else {
            Err(AccessError::Forbidden { school: school.to_string(), permission: permission.claim() })
        }
    }

    /// The actor of changes made in request `request_id`.
    /// The `sub` is who (an email can be edited or reassigned); the email is shown.
    pub fn actor(&self, request_id: &str) -> Actor {
        Actor::new(self.sub.clone(), request_id).with_email(self.email.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_per_school_and_need_ver() {
        let claim =
            "[norte=certificacion:ver norte=certificacion.timbrar:editar sur=certificacion.editar:editar x=otra]";
        let id = Identity::from_claims("u1", Some("ana@uva.mx"), Some("uva"), Some(claim)).unwrap();
        assert_eq!(id.tenant().id(), "uva");
        assert_eq!(id.visible_schools().collect::<Vec<_>>(), ["norte"]);
        assert_eq!(id.require("norte", Permission::Timbrar), Ok(()));
        assert_eq!(
            id.require("norte", Permission::Editar),
            Err(AccessError::Forbidden { school: "norte".into(), permission: "certificacion.editar:editar" })
        );
        // Editing without seeing: the school is not visible at all.
        assert_eq!(id.require("sur", Permission::Editar), Err(AccessError::UnknownSchool("sur".into())));
        assert_eq!(id.require("otra", Permission::Ver), Err(AccessError::UnknownSchool("otra".into())));
        let actor = id.actor("r1");
        assert_eq!((actor.user.as_str(), actor.display()), ("u1", "ana@uva.mx"));
    }

    #[test]
    fn the_institution_is_required() {
        assert_eq!(Identity::from_claims("u", None, None, Some("a=ver")), Err(AccessError::NoInstitution));
        assert_eq!(Identity::from_claims("u", None, Some(" "), None), Err(AccessError::NoInstitution));
        assert_eq!(Identity::from_claims("", None, Some("i"), None), Err(AccessError::Unauthenticated));
    }

    #[test]
    fn the_claim_round_trips() {
        let claim = Identity::permissions_claim(&[("norte", Permission::Ver), ("norte", Permission::Editar)]);
        let id = Identity::from_claims("u", None, Some("i"), Some(&claim)).unwrap();
        assert_eq!(id.require("norte", Permission::Editar), Ok(()));
    }
}
