//! The SEP catalogs used by the Dec 3.0 certificate (SEP-FORMAT.md, "Catalogs").
//!
//! Each catalog is a typed enum carrying its official numeric code and label;
//! documents store the code, the PDF and the UI show the label.

use serde::{Deserialize, Serialize};

/// Defines a catalog enum with `code()`, `label()`, `from_code()` and `ALL`.
macro_rules! catalog {
    ($(#[$meta:meta])* $name:ident : $code_ty:ty { $($variant:ident = $code:expr, $label:expr;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in catalog order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The official code written in the document.
            pub fn code(self) -> $code_ty {
                match self { $($name::$variant => $code),+ }
            }

            /// The official label.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// The value with this official code, if any.
            pub fn from_code(code: $code_ty) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.code() == code)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

catalog! {
    /// `idCargo`: the signer's position.
    Cargo: u32 {
        Director = 1, "Director";
        Subdirector = 2, "Subdirector";
        Rector = 3, "Rector";
        Vicerrector = 4, "Vicerrector";
        ResponsableExpedicion = 5, "Responsable de expedición";
    }
}

catalog! {
    /// `idGenero`: the student's gender.
    Genero: u32 {
        Mujer = 250, "Mujer";
        Hombre = 251, "Hombre";
    }
}

impl Genero {
    /// The one-letter form the UI shows (F / M).
    pub fn letter(self) -> char {
        match self {
            Genero::Mujer => 'F',
            Genero::Hombre => 'M',
        }
    }

    /// Parses the UI letter (F / M, any case).
    pub fn from_letter(letter: &str) -> Option<Self> {
        match letter.trim().to_ascii_uppercase().as_str() {
            "F" => Some(Genero::Mujer),
            "M" | "H" => Some(Genero::Hombre),
            _ => None,
        }
    }
}

catalog! {
    /// `idTipoPeriodo`: how the plan's cycles are divided.
    TipoPeriodo: u32 {
        Semestre = 91, "Semestre";
        Bimestre = 92, "Bimestre";
        Cuatrimestre = 93, "Cuatrimestre";
        Tetramestre = 94, "Tetramestre";
        Trimestre = 260, "Trimestre";
        Modular = 261, "Modular";
        Anual = 262, "Anual";
    }
}

catalog! {
    /// `idNivelEstudios`: level of the studies.
    NivelEstudios: u32 {
        Licenciatura = 81, "Licenciatura";
        Maestria = 82, "Maestría";
        ProfesionalAsociado = 83, "Profesional asociado";
        TecnicoSuperiorUniversitario = 84, "Técnico superior universitario";
        Especialidad = 85, "Especialidad";
        Doctorado = 95, "Doctorado";
    }
}

catalog! {
    /// `idTipoCertificacion`: total (every credit of the plan) or partial.
    TipoCertificacion: u32 {
        Total = 79, "Total";
        Parcial = 80, "Parcial";
    }
}

catalog! {
    /// `idTipoAsignatura`: the subject's type within the plan.
    TipoAsignatura: u32 {
        Obligatoria = 263, "Obligatoria";
        Optativa = 264, "Optativa";
        Adicional = 265, "Adicional";
        Complementaria = 266, "Complementaria";
    }
}

catalog! {
    /// `idObservaciones`: how a grade was obtained.
    Observacion: u32 {
        Normal = 100, "Normal/Ordinario";
        Equivalencia = 70, "Equivalencia de estudios";
        ExamenExtraordinario = 71, "Examen extraordinario";
        TituloSuficiencia = 72, "Examen a título de suficiencia";
        CursoVerano = 73, "Curso de verano";
        Recursamiento = 74, "Recursamiento";
        Reingreso = 75, "Reingreso";
        AcuerdoRegularizacion = 76, "Acuerdo de regularización";
        CambioAcuerdoRvoe = 77, "Cambio en el acuerdo de RVOE";
        Revalidacion = 78, "Revalidación de estudios";
        CorrespondenciaPlan = 101, "Correspondencia por plan";
        Exento = 102, "Exento";
        CursoRegularizacion = 104, "Curso de regularización";
        IntercambioAcademico = 105, "Intercambio académico";
    }
}

impl Observacion {
    /// The abbreviation printed in the subjects table (empty for the default).
    pub fn abbreviation(self) -> &'static str {
        match self {
            Observacion::Normal => "",
            Observacion::Equivalencia => "EQ",
            Observacion::ExamenExtraordinario => "E.E.",
            Observacion::TituloSuficiencia => "E.T.S.",
            Observacion::CursoVerano => "C.V.",
            Observacion::Recursamiento => "REC",
            Observacion::Reingreso => "REI",
            Observacion::AcuerdoRegularizacion => "A.R.",
            Observacion::CambioAcuerdoRvoe => "C.A.",
            Observacion::Revalidacion => "REV",
            Observacion::CorrespondenciaPlan => "C.P.",
            Observacion::Exento => "EX",
            Observacion::CursoRegularizacion => "C.R.",
            Observacion::IntercambioAcademico => "I.A.",
        }
    }
}

catalog! {
    /// Entidad federativa, by its INEGI two-digit code (written "01".."32").
    EntidadFederativa: u32 {
        Aguascalientes = 1, "Aguascalientes";
        BajaCalifornia = 2, "Baja California";
        BajaCaliforniaSur = 3, "Baja California Sur";
        Campeche = 4, "Campeche";
        Coahuila = 5, "Coahuila de Zaragoza";
        Colima = 6, "Colima";
        Chiapas = 7, "Chiapas";
        Chihuahua = 8, "Chihuahua";
        CiudadDeMexico = 9, "Ciudad de México";
        Durango = 10, "Durango";
        Guanajuato = 11, "Guanajuato";
        Guerrero = 12, "Guerrero";
        Hidalgo = 13, "Hidalgo";
        Jalisco = 14, "Jalisco";
        Mexico = 15, "México";
        Michoacan = 16, "Michoacán de Ocampo";
        Morelos = 17, "Morelos";
        Nayarit = 18, "Nayarit";
        NuevoLeon = 19, "Nuevo León";
        Oaxaca = 20, "Oaxaca";
        Puebla = 21, "Puebla";
        Queretaro = 22, "Querétaro";
        QuintanaRoo = 23, "Quintana Roo";
        SanLuisPotosi = 24, "San Luis Potosí";
        Sinaloa = 25, "Sinaloa";
        Sonora = 26, "Sonora";
        Tabasco = 27, "Tabasco";
        Tamaulipas = 28, "Tamaulipas";
        Tlaxcala = 29, "Tlaxcala";
        Veracruz = 30, "Veracruz de Ignacio de la Llave";
        Yucatan = 31, "Yucatán";
        Zacatecas = 32, "Zacatecas";
    }
}

impl EntidadFederativa {
    /// The two-digit code as written in the document ("09").
    pub fn code_str(self) -> String {
        format!("{:02}", self.code())
    }

    /// Parses the two-digit code ("09" or "9").
    pub fn from_code_str(code: &str) -> Option<Self> {
        code.trim().parse().ok().and_then(Self::from_code)
    }
}

catalog! {
    /// Cancellation motives (the títulos catalog, reused for certificates).
    MotivoCancelacion: &'static str {
        CausaImputable = "C1", "Causa imputable al alumno/profesionista";
        ConcordanciaSexoGenerica = "R1", "Reasignación para la concordancia sexo-genérica";
        ReconocimientoPaternidad = "R2", "Reconocimiento de paternidad";
        CambioNombre = "R3", "Cambio o modificación del nombre";
        CasoFortuito = "R4", "Caso fortuito o fuerza mayor";
        Otro = "R5", "Otro";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_for_every_catalog_value() {
        for v in Observacion::ALL {
            assert_eq!(Observacion::from_code(v.code()), Some(*v));
        }
        for v in EntidadFederativa::ALL {
            assert_eq!(EntidadFederativa::from_code_str(&v.code_str()), Some(*v));
        }
        assert_eq!(EntidadFederativa::ALL.len(), 32);
        assert_eq!(MotivoCancelacion::from_code("R5"), Some(MotivoCancelacion::Otro));
    }

    #[test]
    fn gender_shows_f_and_m() {
        assert_eq!(Genero::Mujer.letter(), 'F');
        assert_eq!(Genero::from_code(251).map(Genero::letter), Some('M'));
        assert_eq!(Genero::from_letter("f"), Some(Genero::Mujer));
        assert_eq!(Genero::from_letter("x"), None);
    }

    #[test]
    fn unknown_codes_are_none() {
        assert_eq!(TipoPeriodo::from_code(90), None);
        assert_eq!(EntidadFederativa::from_code_str("33"), None);
    }
}
