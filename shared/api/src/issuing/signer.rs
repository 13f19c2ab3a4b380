//! The school's registered signer, loaded once per session: the e.firma
//! opened with the deployment's secret (or why it does not open), and for an
//! autonomous institution its own authority node over the same e.firma.

use crate::{Adapters, Api, Problem};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certifica_core::efirma::{Efirma, EfirmaError};
use certifica_core::model::{InstitutionType, Responsable};
use certifica_core::ports::InstitutionStore;
use certifica_core::records::{SignerConfig, Tenant};
use certifica_core::stamping::{AuthoritySigner, LocalAuthority};
use http::StatusCode;

/// The context a signer's password is sealed under.
pub(crate) fn secret_context(t: &Tenant, school: &str) -> String {
    format!("firmante/{}/{school}", t.id())
}

/// The state of a signer's key.
#[derive(Debug)]
pub enum Key {
    /// The signer keeps the key offline and seals with `certifica sign`.
    Offline,
    /// Opened: the server can seal.
    Open(Efirma),
    /// Registered, but it does not open (wrong password, key of another certificate…).
    Unusable(EfirmaError),
}

/// A school's registered signer.
#[derive(Debug)]
pub struct Signer {
    pub config: SignerConfig,
    /// The `.cer` as registered (DER).
    pub cer: Vec<u8>,
    pub key: Key,
    /// AUTONOMO with the key on the server: the institution's own authority node.
    pub own_node: Option<LocalAuthority>,
}

impl Signer {
    /// The school's signer, opened with the deployment's secret; `None`
    /// when none is registered, a 409 when its files do not open with this
    /// installation's key.
    pub async fn load<X: Adapters>(
        api: &Api<X>,
        t: &Tenant,
        school: &str,
        kind: InstitutionType,
    ) -> Result<Option<Signer>, Problem> {
        let Some(config) = api.records.signer(t, school).await? else { return Ok(None) };
        let unreadable = || {
            Problem::new(
                StatusCode::CONFLICT,
                "firmante_ilegible",
                "la e.firma registrada no se puede leer con la llave de esta instalación; regístrela de nuevo",
            )
        };
        let cer = STANDARD.decode(&config.cer_base64).map_err(|_| unreadable())?;
        if config.is_offline() {
            return Ok(Some(Signer { config, cer, key: Key::Offline, own_node: None }));
        }
        let key = STANDARD.decode(&config.key_base64).map_err(|_| unreadable())?;
        let password =
            api.config.secrets.open(&config.password_sealed, &secret_context(t, school)).map_err(|_| unreadable())?;
        let key = match Efirma::load(&cer, &key, &password) {
            Ok(efirma) => Key::Open(efirma),
            Err(e) => Key::Unusable(e),
        };
        let own_node = match (&key, kind) {
            (Key::Open(efirma), InstitutionType::Autonomo) => Some(LocalAuthority::institution_node(
                efirma.clone(),
                AuthoritySigner {
                    curp: config.responsable.curp.clone(),
                    nombre_completo: config.responsable.full_name(),
                    cargo: config.responsable.cargo,
                },
            )),
            _ => None,
        };
        Ok(Some(Signer { config, cer, key, own_node }))
    }

    /// Who seals and with which e.firma, when the server holds it open.
    pub fn sealing(&self) -> Option<(&Responsable, &Efirma)> {
        match &self.key {
            Key::Open(efirma) => Some((&self.config.responsable, efirma)),
            _ => None,
        }
    }
}
