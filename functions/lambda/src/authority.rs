//! The stamping authority a deployment is configured with
//! (`CERTIFICA_STAMPER`): the simulated one (dev stages), or none — the
//! semi-electronic flow, where sealed documents are exported for the
//! authority's portal and what it returns is uploaded to the inbox, checked
//! against the authority certificates given as configuration.

use certifica_core::efirma::SignerCertificate;
use certifica_core::stamping::{LocalAuthority, StampError, Stamped, Stamper};

/// Which authority stamps, chosen by the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StamperKind {
    /// `simulated`: the in-process simulated authority (its key is public: never in prod).
    Simulated,
    /// `ninguna`: no online authority; only authority-returned uploads are stamped.
    None,
}

impl StamperKind {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "simulated" => Some(StamperKind::Simulated),
            "ninguna" => Some(StamperKind::None),
            _ => None,
        }
    }
}

/// The configured authority.
pub enum Authority {
    Simulated(Box<LocalAuthority>),
    /// No online authority: nothing is sent; the certificate stays Sellado
    /// with its credit released, ready to be exported for the portal.
    None,
}

impl Authority {
    /// The simulated authority, when it is the one configured (tests make it fail).
    pub fn simulated(&self) -> Option<&LocalAuthority> {
        match self {
            Authority::Simulated(a) => Some(a),
            Authority::None => None,
        }
    }

    /// The simulated authority's certificate, trusted in uploads only when it stamps.
    pub fn certificate(&self) -> Option<&SignerCertificate> {
        match self {
            Authority::Simulated(a) => Some(a.certificate()),
            Authority::None => None,
        }
    }
}

impl Stamper for Authority {
    async fn stamp(&self, sealed_xml: &str) -> Result<Stamped, StampError> {
        match self {
            Authority::Simulated(a) => a.stamp(sealed_xml).await,
            Authority::None => Err(StampError::Unavailable(
                "esta instalación no timbra en línea: exporte los documentos sellados para el portal de la autoridad y suba lo que devuelva (certificación semielectrónica)".into(),
            )),
        }
    }
}
