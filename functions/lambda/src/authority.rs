//! The stamping authority a deployment is configured with
//! (`CERTIFICA_STAMPER`) and what the functions that stamp trust: the
//! simulated authority (dev stages), or none — the semi-electronic flow,
//! where sealed documents are exported for the authority's portal and what
//! it returns is uploaded to the inbox, checked against the authority
//! certificates given as configuration — and the CAs a signer's e.firma must
//! come from. Only these functions read certificate files, so only their
//! binaries carry the certificate parsing.

use certifica_core::efirma::SignerCertificate;
use certifica_core::stamping::{LocalAuthority, StampError, Stamped, Stamper};
use certifica_core::trust::SignerCas;

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

/// The configured authority and trust.
pub struct Authority {
    /// The simulated authority, when it stamps; `None`: nothing is sent
    /// (the certificate stays Sellado with its credit released, ready to be
    /// exported for the portal).
    online: Option<Box<LocalAuthority>>,
    /// Authority certificates trusted in uploaded documents (configured files).
    configured: Vec<SignerCertificate>,
    signer_cas: SignerCas,
}

impl Authority {
    pub fn new(online: Option<LocalAuthority>, configured: Vec<SignerCertificate>, signer_cas: SignerCas) -> Self {
        Authority { online: online.map(Box::new), configured, signer_cas }
    }

    /// No online authority and nothing trusted.
    pub fn offline() -> Self {
        Authority::new(None, Vec::new(), SignerCas::new())
    }

    /// The simulated authority, when it is the one configured (tests make it fail).
    pub fn simulated(&self) -> Option<&LocalAuthority> {
        self.online.as_deref()
    }

    /// Whose stamps uploaded documents may carry: the configured certificates,
    /// and the simulated authority's only when it is the one that stamps.
    pub fn trusted(&self) -> Vec<SignerCertificate> {
        let simulated = self.online.iter().map(|a| a.certificate().clone());
        simulated.chain(self.configured.iter().cloned()).collect()
    }

    pub fn signer_cas(&self) -> &SignerCas {
        &self.signer_cas
    }
}

impl Stamper for Authority {
    async fn stamp(&self, sealed_xml: &str) -> Result<Stamped, StampError> {
        match &self.online {
            Some(a) => a.stamp(sealed_xml).await,
            None => Err(StampError::Unavailable(
                "esta instalación no timbra en línea: exporte los documentos sellados para el portal de la autoridad y suba lo que devuelva (certificación semielectrónica)".into(),
            )),
        }
    }
}
