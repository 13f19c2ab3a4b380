//! `certifica`: the command for signers and operators. `sign` seals a Dec 3.0
//! document offline with the signer's e.firma, `verify` checks any
//! certificate, `render` prints its PDF, and `demo` issues sample
//! certificates into a folder with the simulated authority, `serve` runs
//! the HTTP API locally with embedded storage, and `token` mints
//! development tokens for it.

mod commands;
mod demo;
mod provision;
mod serve;
mod web;
mod worker;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

// A job issues thousands of certificates, each a few hundred short-lived
// strings and buffers across threads: mimalloc serves them with less CPU
// than glibc's malloc (measured: docs/performance.md §2b).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Sella un documento Dec 3.0 (o un ZIP de ellos, como los exporta export-unsealed) con la e.firma del responsable, sin conexión.
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
        /// Documento Dec 3.0 sin sello, o un ZIP de ellos (entonces --out es obligatorio).
        input: PathBuf,
    },
    /// Da de alta (o actualiza) una institución, sus escuelas y ciclos y una compra de créditos
    /// desde un archivo JSON, en la tabla de DynamoDB del despliegue o en una carpeta local.
    Provision {
        /// El archivo (ver infra/institucion-ejemplo.json).
        #[arg(long)]
        file: PathBuf,
        /// Tabla de DynamoDB (credenciales y región de AWS del entorno).
        #[arg(long, conflicts_with = "data", required_unless_present = "data")]
        table: Option<String>,
        /// Carpeta de datos de `certifica serve`.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Quién hace el alta (queda en la bitácora de créditos).
        #[arg(long, default_value = "operador")]
        operator: String,
    },
    /// Hace lo que el portal de la autoridad con un ZIP de XML sellados, con la autoridad simulada:
    /// devuelve un ZIP de XML autenticados y la hoja resultados.csv (para probar el flujo semielectrónico).
    AutoridadSimulada {
        /// ZIP de XML sellados (el de export-sealed).
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Folio de control que la autoridad rechaza (repetible).
        #[arg(long = "rechazar")]
        refuse: Vec<String>,
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
    /// Sirve la API HTTP en esta computadora con almacenamiento local (SQLite y carpetas).
    Serve {
        /// Dirección local donde escuchar.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: std::net::SocketAddr,
        /// Carpeta de datos (base de datos, documentos, bandeja de salida, llave local).
        #[arg(long, default_value = "certifica-data")]
        data: PathBuf,
        /// Carga una vez las instituciones de demostración e imprime un token listo para usar.
        #[arg(long)]
        demo: bool,
        /// Carpeta del cliente web que se sirve en `/`.
        #[arg(long, default_value = web::DEFAULT_WEB)]
        web: PathBuf,
        /// Certificado de una autoridad certificadora (PEM o DER) cuyas e.firmas se aceptan al
        /// registrar un firmante, además de la AC de demostración (repetible; también
        /// CERTIFICA_SIGNER_CAS, archivos separados por coma).
        #[arg(long = "trust-signer-ca", env = "CERTIFICA_SIGNER_CAS", value_delimiter = ',')]
        trust_signer_ca: Vec<PathBuf>,
        /// Certificados que el zip de un ciclo arma dentro de la solicitud; con más, la
        /// descarga es un trabajo y quien la pidió recibe un correo cuando está lista.
        #[arg(long, env = "CERTIFICA_INLINE_DOWNLOAD_LIMIT", default_value_t = 2000)]
        inline_download_limit: usize,
    },
    /// Crea un token de desarrollo para `certifica serve` (firmado con la llave de la carpeta de datos).
    Token {
        #[arg(long)]
        institution: String,
        /// Escuela (repetible).
        #[arg(long = "school", required = true)]
        schools: Vec<String>,
        /// Permisos separados por coma: ver, timbrar, editar.
        #[arg(long, default_value = "ver")]
        perms: String,
        /// Vigencia, p. ej. 30m, 8h o 2d.
        #[arg(long, default_value = "8h")]
        ttl: String,
        #[arg(long, default_value = "usuario@certifica.local")]
        email: String,
        #[arg(long, default_value = "certifica-data")]
        data: PathBuf,
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
        Command::Provision { file, table, data, operator } => {
            let target = match (&table, &data) {
                (Some(t), _) => provision::Target::Table(t),
                (None, Some(d)) => provision::Target::Data(d),
                (None, None) => provision::Target::Data(std::path::Path::new("certifica-data")),
            };
            provision::run(&file, target, &operator)
        }
        Command::AutoridadSimulada { input, out, refuse } => commands::simulated_portal(&input, &out, &refuse),
        Command::Serve { addr, data, demo, web, trust_signer_ca, inline_download_limit } => {
            serve::serve(addr, &data, demo, &web, &trust_signer_ca, inline_download_limit)
        }
        Command::Token { institution, schools, perms, ttl, email, data } => {
            token(&institution, &schools, &perms, &ttl, &email, &data)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn token(
    institution: &str,
    schools: &[String],
    perms: &str,
    ttl: &str,
    email: &str,
    data: &std::path::Path,
) -> Result<ExitCode, commands::CliError> {
    use certifica_core::identity::Permission;
    let perms = perms
        .split(',')
        .map(|p| {
            Permission::parse(p.trim()).ok_or_else(|| {
                commands::CliError::Usage(format!("permiso «{p}» desconocido: use ver, timbrar o editar"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ttl = parse_ttl(ttl)
        .ok_or_else(|| commands::CliError::Usage(format!("vigencia «{ttl}» inválida: use p. ej. 30m, 8h o 2d")))?;
    println!("{}", serve::mint(data, institution, schools, &perms, ttl, email)?);
    Ok(ExitCode::SUCCESS)
}

/// "30m", "8h", "2d" (at most 30 days).
fn parse_ttl(text: &str) -> Option<chrono::Duration> {
    let (number, unit) = text.trim().split_at(text.trim().len().checked_sub(1)?);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let d = match unit {
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return None,
    };
    (d <= chrono::Duration::days(30)).then_some(d)
}
