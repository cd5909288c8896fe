//! Pictures for `zplan demo`: an RGB canvas with rectangles, lines, grey images and text in a
//! built-in 5 x 7 pixel font, written as PNG or as frames of a grey animated GIF.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub type Rgb = [u8; 3];

pub const BLACK: Rgb = [0, 0, 0];
pub const WHITE: Rgb = [255, 255, 255];
pub const GREY: Rgb = [150, 150, 150];

/// A canvas of `width` x `height` RGB pixels, row-major, origin top left.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    pub fn set(&mut self, x: i64, y: i64, colour: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let at = (y as usize * self.width + x as usize) * 3;
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
    }

    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, colour);
            }
        }
    }

    /// A line `thickness` pixels wide from (x0, y0) to (x1, y1) (Bresenham, square brush).
    pub fn line(
        &mut self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        thickness: i64,
        colour: Rgb,
    ) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        let half = thickness / 2;
        loop {
            self.fill_rect(x - half, y - half, thickness, thickness, colour);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A grey image (values in [0, 1], `w` x `h` row-major) scaled up by `scale`, at (x, y).
    pub fn grey_image(&mut self, x: i64, y: i64, image: &[f32], w: usize, h: usize, scale: usize) {
        for (row, line) in image.chunks_exact(w).take(h).enumerate() {
            for (col, value) in line.iter().enumerate() {
                let v = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                let (px, py) = (x + (col * scale) as i64, y + (row * scale) as i64);
                self.fill_rect(px, py, scale as i64, scale as i64, [v, v, v]);
            }
        }
    }

    /// Text in the 5 x 7 font (upper case), each font pixel `scale` pixels; returns its width.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, colour: Rgb) -> i64 {
        let mut cursor = x;
        for c in text.chars() {
            let glyph = glyph(c.to_ascii_uppercase());
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.fill_rect(
                            cursor + col * scale,
                            y + row as i64 * scale,
                            scale,
                            scale,
                            colour,
                        );
                    }
                }
            }
            cursor += 6 * scale;
        }
        cursor - x
    }

    pub fn write_png(&self, path: &Path) -> Result<(), String> {
        let error = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = File::create(path).map_err(|e| error(&e))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| error(&e))?;
        writer
            .write_image_data(&self.pixels)
            .map_err(|e| error(&e))?;
        writer.finish().map_err(|e| error(&e))
    }

    /// The canvas as grey levels (the mean of R, G and B), for a grey GIF frame.
    pub fn grey_levels(&self) -> Vec<u8> {
        self.pixels
            .chunks_exact(3)
            .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
            .collect()
    }
}

/// An animated GIF of grey frames, all `width` x `height`, looping forever.
pub struct GreyGif {
    encoder: gif::Encoder<BufWriter<File>>,
    width: u16,
    height: u16,
    path: String,
}

impl GreyGif {
    pub fn create(path: &Path, width: usize, height: usize) -> Result<Self, String> {
        let error = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let (width, height) = (
            u16::try_from(width).map_err(|e| error(&e))?,
            u16::try_from(height).map_err(|e| error(&e))?,
        );
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let file = File::create(path).map_err(|e| error(&e))?;
        let mut encoder = gif::Encoder::new(BufWriter::new(file), width, height, &palette)
            .map_err(|e| error(&e))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| error(&e))?;
        Ok(Self {
            encoder,
            width,
            height,
            path: path.display().to_string(),
        })
    }

    /// Appends a frame shown for `delay_ms` (GIF counts in 10 ms units).
    pub fn add(&mut self, canvas: &Canvas, delay_ms: u16) -> Result<(), String> {
        let levels = canvas.grey_levels();
        let mut frame = gif::Frame::from_indexed_pixels(self.width, self.height, levels, None);
        frame.delay = (delay_ms / 10).max(2);
        self.encoder
            .write_frame(&frame)
            .map_err(|e| format!("{}: {e}", self.path))
    }
}

/// 5 x 7 glyphs, one byte per row, bit 4 the leftmost pixel. Unknown characters are blank.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        ';' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        _ => [0; 7],
    }
}

/// A plot area mapping (step, value) to pixels.
pub struct Panel {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    pub lo: f64,
    pub hi: f64,
    /// Points along x: x = 0 .. count - 1.
    pub count: usize,
}

impl Panel {
    pub fn px(&self, t: f64) -> i64 {
        self.x + (t / (self.count.max(2) - 1) as f64 * self.w as f64).round() as i64
    }

    pub fn py(&self, v: f64) -> i64 {
        self.y + self.h - ((v - self.lo) / (self.hi - self.lo) * self.h as f64).round() as i64
    }

    pub fn frame(&self, canvas: &mut Canvas) {
        let (x0, y0, x1, y1) = (self.x, self.y, self.x + self.w, self.y + self.h);
        for (a, b) in [
            ((x0, y0), (x1, y0)),
            ((x1, y0), (x1, y1)),
            ((x1, y1), (x0, y1)),
            ((x0, y1), (x0, y0)),
        ] {
            canvas.line(a, b, 1, BLACK);
        }
        if self.lo < 0.0 && self.hi > 0.0 {
            self.dashed(canvas, 0.0, GREY);
        }
    }

    pub fn series(&self, canvas: &mut Canvas, values: &[f64], colour: Rgb) {
        for (t, pair) in values.windows(2).enumerate() {
            let a = (self.px(t as f64), self.py(pair[0]));
            let b = (self.px(t as f64 + 1.0), self.py(pair[1]));
            canvas.line(a, b, 2, colour);
        }
    }

    pub fn dashed(&self, canvas: &mut Canvas, value: f64, colour: Rgb) {
        let y = self.py(value);
        for x in (self.x..self.x + self.w).step_by(8) {
            canvas.line((x, y), ((x + 4).min(self.x + self.w), y), 1, colour);
        }
    }

    pub fn labels(&self, canvas: &mut Canvas, name: &str) {
        for value in [self.lo, self.hi] {
            let text = format!("{value:.2}");
            let y = self.py(value) - 3;
            canvas.text(self.x - 6 - 6 * text.len() as i64, y, &text, 1, BLACK);
        }
        canvas.text(self.x, self.y - 12, name, 1, BLACK);
    }
}
