//! `certifica`: the command for signers and operators. `sign` seals a Dec 3.0
//! document offline with the signer's e.firma, `verify` checks any
//! certificate, `render` prints its PDF, and `demo` issues sample
//! certificates into a folder with the simulated authority.

mod commands;
mod demo;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "certifica",
    version,
    about = "Certificados electrónicos de estudios (Dec 3.0): sellado, verificación y representación impresa"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sella un documento Dec 3.0 con la e.firma del responsable (sin conexión).
    Sign {
        /// Certificado .cer (DER) del responsable.
        #[arg(long)]
        cer: PathBuf,
        /// Llave privada .key (PKCS#8 cifrada, DER).
        #[arg(long)]
        key: PathBuf,
        /// Archivo con la contraseña de la llave (o la variable CERTIFICA_KEY_PASSWORD).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Dónde escribir el XML sellado (por omisión, la salida estándar).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Documento Dec 3.0 sin sello.
        input: PathBuf,
    },
    /// Verifica un certificado (sello, certificado, timbre); sale con 0 si es válido y 1 si no.
    Verify {
        file: PathBuf,
        /// Informe en JSON.
        #[arg(long)]
        json: bool,
        /// Certificado (.cer) de una autoridad de timbrado en la que se confía (repetible).
        #[arg(long = "trust-cer")]
        trust: Vec<PathBuf>,
        /// No confiar en la autoridad simulada incluida (para documentos reales).
        #[arg(long)]
        no_simulator: bool,
    },
    /// Genera el PDF (representación impresa) de un certificado sellado o timbrado.
    Render {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Marca el documento como CANCELADO.
        #[arg(long, conflicts_with = "preview")]
        cancelled: bool,
        /// Marca el documento como VISTA PREVIA sin validez oficial.
        #[arg(long)]
        preview: bool,
        /// Dirección base de verificación para el código QR (se le agrega el folio).
        #[arg(long, env = "CERTIFICA_VERIFY_BASE_URL", default_value = commands::DEFAULT_VERIFY_BASE)]
        verify_base_url: String,
        /// Logotipo de la institución (PNG) para el encabezado.
        #[arg(long)]
        logo: Option<PathBuf>,
    },
    /// Emite certificados de demostración (datos ficticios, autoridad simulada) en una carpeta.
    Demo {
        #[arg(long, default_value = "demo-output")]
        out: PathBuf,
        /// Fecha de expedición (AAAA-MM-DD); por omisión, hoy.
        #[arg(long)]
        issue_date: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sign { cer, key, password_file, out, input } => {
            commands::sign(&cer, &key, password_file.as_deref(), out.as_deref(), &input)
        }
        Command::Verify { file, json, trust, no_simulator } => commands::verify(&file, json, &trust, !no_simulator),
        Command::Render { file, out, cancelled, preview, verify_base_url, logo } => {
            commands::render(&file, &out, cancelled, preview, &verify_base_url, logo.as_deref())
        }
        Command::Demo { out, issue_date } => commands::demo(&out, issue_date.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
