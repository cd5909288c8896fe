//! A small rasteriser with the geometry of the reference renderers (white on black, u8), in
//! PIL's coordinates: x to the right, y down, pixel (x, y) at integer coordinates.

/// A single-channel image being drawn.
pub struct Canvas<'a> {
    pixels: &'a mut [u8],
    width: usize,
    height: usize,
}

impl<'a> Canvas<'a> {
    /// A black canvas over `pixels` (row-major, `width * height`).
    pub fn new(pixels: &'a mut [u8], width: usize, height: usize) -> Self {
        assert_eq!(pixels.len(), width * height, "canvas size");
        pixels.fill(0);
        Self {
            pixels,
            width,
            height,
        }
    }

    fn put(&mut self, x: i64, y: i64) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.pixels[y as usize * self.width + x as usize] = 255;
        }
    }

    /// Draws the disc of centre (cx, cy) and radius `r` in continuous coordinates (pixel (x, y)
    /// covers [x, x + 1) x [y, y + 1)), anti-aliased: each pixel gains `level` times the share
    /// of its SUPERSAMPLE x SUPERSAMPLE sample points inside the disc, saturating at 255. A
    /// sub-pixel move of the disc changes its edge pixels.
    pub fn disc_coverage(&mut self, cx: f64, cy: f64, r: f64, level: u8) {
        const SUPERSAMPLE: usize = 8;
        let step = 1.0 / SUPERSAMPLE as f64;
        let rows = (cy - r).floor().max(0.0) as usize
            ..((cy + r).ceil().max(0.0) as usize).min(self.height);
        let cols =
            (cx - r).floor().max(0.0) as usize..((cx + r).ceil().max(0.0) as usize).min(self.width);
        for y in rows {
            for x in cols.clone() {
                let mut inside = 0;
                for i in 0..SUPERSAMPLE {
                    let dy = y as f64 + (i as f64 + 0.5) * step - cy;
                    for j in 0..SUPERSAMPLE {
                        let dx = x as f64 + (j as f64 + 0.5) * step - cx;
                        inside += usize::from(dx * dx + dy * dy <= r * r);
                    }
                }
                let gain = (f64::from(level) * inside as f64 / (SUPERSAMPLE * SUPERSAMPLE) as f64)
                    .round() as u16;
                let pixel = &mut self.pixels[y * self.width + x];
                *pixel = (u16::from(*pixel) + gain).min(255) as u8;
            }
        }
    }

    /// Fills rows `top..bottom`, columns `left..right` (half-open, like a numpy slice).
    pub fn fill_block(&mut self, top: i64, bottom: i64, left: i64, right: i64) {
        for y in top.max(0)..bottom {
            for x in left.max(0)..right {
                self.put(x, y);
            }
        }
    }

    /// Fills the rectangle with corners (x0, y0) and (x1, y1), both included, the corners
    /// truncated to integers as PIL does.
    pub fn fill_rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        let (x0, x1) = (x0 as i64, x1 as i64);
        let (y0, y1) = (y0 as i64, y1 as i64);
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.put(x, y);
            }
        }
    }

    /// Fills the ellipse inscribed in the integer box (x0, y0)-(x1, y1), both included.
    pub fn fill_ellipse(&mut self, x0: i64, y0: i64, x1: i64, y1: i64) {
        let (cx, cy) = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
        let (rx, ry) = ((x1 - x0 + 1) as f64 / 2.0, (y1 - y0 + 1) as f64 / 2.0);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = ((x as f64 - cx) / rx, (y as f64 - cy) / ry);
                if dx * dx + dy * dy <= 1.0 {
                    self.put(x, y);
                }
            }
        }
    }

    /// A line `width` pixels wide from (x0, y0) to (x1, y1), rasterised as PIL does: the end
    /// points truncated to integers, the quad around the segment offset by the integer parts of
    /// half the width (rounded up on one side, down on the other), then filled scanline by
    /// scanline.
    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, width: u32) {
        let (x0, y0, x1, y1) = (x0 as i64, y0 as i64, x1 as i64, y1 as i64);
        let (dx, dy) = (x1 - x0, y1 - y0);
        if dx == 0 && dy == 0 {
            self.put(x0, y0);
            return;
        }
        let big = (dx as f64).hypot(dy as f64);
        let small = (f64::from(width) - 1.0) / 2.0;
        let ratio_max = round_half_away(small) as f64 / big;
        let ratio_min = round_half_toward(small) as f64 / big;
        let dxmin = round_half_toward(ratio_min * dy as f64);
        let dxmax = round_half_toward(ratio_max * dy as f64);
        let dymin = round_half_toward(ratio_min * dx as f64);
        let dymax = round_half_toward(ratio_max * dx as f64);
        let quad = [
            (x0 - dxmin, y0 + dymax),
            (x1 - dxmin, y1 + dymax),
            (x1 + dxmax, y1 - dymin),
            (x0 + dxmax, y0 - dymin),
        ];
        self.fill_convex(&quad);
    }

    /// Fills a convex polygon with integer vertices: on each scanline, from the leftmost to the
    /// rightmost edge crossing, ends rounded inwards at half pixels.
    fn fill_convex(&mut self, vertices: &[(i64, i64)]) {
        let ymin = vertices.iter().map(|v| v.1).min().unwrap_or(0);
        let ymax = vertices.iter().map(|v| v.1).max().unwrap_or(-1);
        for y in ymin..=ymax {
            let (mut left, mut right) = (f64::INFINITY, f64::NEG_INFINITY);
            for (i, &(xa, ya)) in vertices.iter().enumerate() {
                let (xb, yb) = vertices[(i + 1) % vertices.len()];
                if y < ya.min(yb) || y > ya.max(yb) {
                    continue;
                }
                let xs = if ya == yb {
                    [xa as f64, xb as f64]
                } else {
                    let x = xa as f64 + (y - ya) as f64 * (xb - xa) as f64 / (yb - ya) as f64;
                    [x, x]
                };
                for x in xs {
                    left = left.min(x);
                    right = right.max(x);
                }
            }
            if left <= right {
                for x in (left + 0.5).floor() as i64..=(right - 0.5).ceil() as i64 {
                    self.put(x, y);
                }
            }
        }
    }
}

/// Rounds halves away from zero (PIL's ROUND_UP).
fn round_half_away(v: f64) -> i64 {
    if v >= 0.0 {
        (v + 0.5).floor() as i64
    } else {
        -((v.abs() + 0.5).floor() as i64)
    }
}

/// Rounds halves toward zero (PIL's ROUND_DOWN).
fn round_half_toward(v: f64) -> i64 {
    if v >= 0.0 {
        (v - 0.5).ceil() as i64
    } else {
        -((v.abs() - 0.5).ceil() as i64)
    }
}
