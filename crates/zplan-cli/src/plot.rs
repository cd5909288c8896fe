//! Pictures of runs: charts with real axes (plotters' bitmap backend drawing into [`Figure`],
//! text in DejaVu Sans embedded in the binary, so no system font is needed), written as PNG,
//! and frames of grey images with captions written as an animated GIF.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Once;

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontDesc, FontFamily, FontStyle};

/// The font family every text of a figure uses.
const FONT: &str = "sans-serif";

/// Registers the embedded DejaVu Sans as [`FONT`]; a font made before this fails to draw.
fn register_font() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid font"));
    });
}

/// The figures' font at `size` pixels.
pub fn font(size: f64) -> FontDesc<'static> {
    register_font();
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal)
}

/// Colours of the series, after matplotlib's default cycle.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub const RED: RGBColor = RGBColor(214, 39, 40);
pub const GREY: RGBColor = RGBColor(150, 150, 150);
/// Shading of the steps in goal.
pub const GOAL_BAND: RGBColor = RGBColor(214, 240, 214);

/// What a figure is drawn on.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// An RGB picture (8 bits a channel, rows top to bottom).
pub struct Figure {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Figure {
    /// A figure filled with `background`.
    pub fn new(width: u32, height: u32, background: RGBColor) -> Self {
        register_font();
        let RGBColor(r, g, b) = background;
        Self {
            width,
            height,
            pixels: [r, g, b].repeat((width * height) as usize),
        }
    }

    /// Draws on the figure with plotters.
    pub fn draw(&mut self, f: impl FnOnce(&Area<'_>) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let area = BitMapBackend::with_buffer(&mut self.pixels, (self.width, self.height))
            .into_drawing_area();
        f(&area)?;
        area.present()?;
        Ok(())
    }

    /// Puts a grey image (`w` x `h` values in [0, 1], row-major) at (x, y), each pixel a
    /// `scale` x `scale` block; what falls outside the figure is cut.
    pub fn grey_image(
        &mut self,
        x: usize,
        y: usize,
        image: &[f32],
        w: usize,
        h: usize,
        scale: usize,
    ) {
        let width = self.width as usize;
        for (row, line) in image.chunks_exact(w).take(h).enumerate() {
            for (col, &value) in line.iter().enumerate() {
                let level = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                for py in y + row * scale..(y + (row + 1) * scale).min(self.height as usize) {
                    for px in x + col * scale..(x + (col + 1) * scale).min(width) {
                        let at = 3 * (py * width + px);
                        self.pixels[at..at + 3].fill(level);
                    }
                }
            }
        }
    }

    /// Writes the figure as an 8-bit RGB PNG.
    pub fn write_png(&self, path: &Path) -> anyhow::Result<()> {
        let file = File::create(path).with_context(|| format!("{}", path.display()))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer
            .finish()
            .with_context(|| format!("{}", path.display()))
    }
}

/// An animated GIF of grey figures, all of one size, looping forever.
pub struct GreyGif {
    encoder: gif::Encoder<BufWriter<File>>,
    width: u16,
    height: u16,
}

impl GreyGif {
    /// A new GIF file of `width` x `height` frames.
    pub fn create(path: &Path, width: u32, height: u32) -> anyhow::Result<Self> {
        let (width, height) = (u16::try_from(width)?, u16::try_from(height)?);
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let file = File::create(path).with_context(|| format!("{}", path.display()))?;
        let mut encoder = gif::Encoder::new(BufWriter::new(file), width, height, &palette)?;
        encoder.set_repeat(gif::Repeat::Infinite)?;
        Ok(Self {
            encoder,
            width,
            height,
        })
    }

    /// Appends `figure` (as grey levels, the mean of R, G and B) shown for `delay_ms` (GIF counts
    /// in 10 ms units).
    pub fn add(&mut self, figure: &Figure, delay_ms: u16) -> anyhow::Result<()> {
        anyhow::ensure!(
            (figure.width, figure.height) == (u32::from(self.width), u32::from(self.height)),
            "a GIF frame of {}x{} in a GIF of {}x{}",
            figure.width,
            figure.height,
            self.width,
            self.height
        );
        let levels = figure
            .pixels
            .chunks_exact(3)
            .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
            .collect::<Vec<_>>();
        let mut frame = gif::Frame::from_indexed_pixels(self.width, self.height, levels, None);
        frame.delay = (delay_ms / 10).max(2);
        Ok(self.encoder.write_frame(&frame)?)
    }
}

/// The range of `values` padded by 5 % on each side (at least 1e-3).
pub fn padded_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let pad = ((hi - lo) * 0.05).max(1e-3);
    lo - pad..hi + pad
}
