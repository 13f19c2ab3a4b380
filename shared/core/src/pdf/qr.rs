//! The QR code to the verification address, drawn as vector squares.

use super::PdfError;
use super::layout::gray;
use printpdf::{CurTransMat, Mm, Op, PaintMode, Pt, WindingOrder};

/// The QR code's side (mm) and the gap kept between it and the text beside it.
pub(super) const QR_SIZE: f32 = 32.0;

pub(super) const QR_GAP: f32 = 4.0;

/// A QR code of `data` as filled squares, top-left corner at (x, top), `size` mm wide.
/// Drawn in a coordinate system of one unit per module, so each run of dark
/// modules is a rectangle of four small integers.
pub(super) fn qr_ops(data: &str, x: f32, top: f32, size: f32) -> Result<Vec<Op>, PdfError> {
    let code = fast_qr::QRBuilder::new(data).ecl(fast_qr::ECL::M).build().map_err(|e| PdfError::Qr(e.to_string()))?;
    let n = code.size;
    let quiet = 2usize;
    let module = Pt::from(Mm(size / (n + 2 * quiet) as f32)).0;
    let (left, bottom) = (Pt::from(Mm(x)).0, Pt::from(Mm(top - size)).0);
    let mut ops = vec![
        Op::SaveGraphicsState,
        Op::SetTransformationMatrix {
            matrix: CurTransMat::Raw([
                module,
                0.0,
                0.0,
                module,
                left + module * quiet as f32,
                bottom + module * quiet as f32,
            ]),
        },
        Op::SetFillColor { col: gray(0.0) },
    ];
    for row in 0..n {
        let dark = &code[row];
        // Module rows count down from the top; PDF's y axis goes up.
        let y = (n - 1 - row) as f32;
        // One rectangle per horizontal run of dark modules.
        let mut col = 0;
        while col < n {
            if dark[col].value() {
                let start = col;
                while col < n && dark[col].value() {
                    col += 1;
                }
                ops.push(Op::DrawRectangle {
                    rectangle: printpdf::Rect {
                        x: Pt(start as f32),
                        y: Pt(y),
                        width: Pt((col - start) as f32),
                        height: Pt(1.0),
                        mode: Some(PaintMode::Fill),
                        winding_order: Some(WindingOrder::NonZero),
                    },
                });
            } else {
                col += 1;
            }
        }
    }
    ops.push(Op::RestoreGraphicsState);
    Ok(ops)
}
