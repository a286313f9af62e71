//! Prints how long the Gannan territory takes to build, how long ~2,000 grids take to generate,
//! and how many grid lookups per second one core does.
//!
//! `cargo run --release -p domain --example geo_bench`

use std::hint::black_box;
use std::time::Instant;

use domain::gannan::{grid_cells, territory};
use domain::locate::GridIndex;
use domain::{Level, TerritoryCode};
use geo::{BoundingRect, CoordsIter, Densify, Euclidean, MultiPolygon, Point};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const GRIDS_PER_VILLAGE: usize = 3;
const LOOKUPS: usize = 2_000_000;
/// Longest edge, in degrees (≈ 200 m), when densifying grids to hand-drawn vertex counts.
const DENSE_SEGMENT: f64 = 0.002;

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn main() {
    let t = Instant::now();
    let nodes = territory();
    let build = t.elapsed();
    println!(
        "territory(): {} nodes in {:.1} ms",
        nodes.len(),
        build.as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let mut grids: Vec<(TerritoryCode, MultiPolygon<f64>)> = Vec::new();
    for village in nodes.iter().filter(|n| n.level() == Level::Village) {
        for (k, cell) in grid_cells(village, GRIDS_PER_VILLAGE)
            .into_iter()
            .enumerate()
        {
            grids.push((village.code.child_seq(k as u32 + 1), cell.shape));
        }
    }
    let vertices: usize = grids.iter().map(|(_, s)| s.coords_count()).sum();
    println!(
        "grid_cells: {} grids ({:.0} vertices each on average) in {:.1} ms",
        grids.len(),
        vertices as f64 / grids.len() as f64,
        t.elapsed().as_secs_f64() * 1e3
    );

    let dense: Vec<(TerritoryCode, MultiPolygon<f64>)> = grids
        .iter()
        .map(|(c, s)| (c.clone(), Euclidean.densify(s, DENSE_SEGMENT)))
        .collect();
    let dense_vertices: usize = dense.iter().map(|(_, s)| s.coords_count()).sum();

    let t = Instant::now();
    let index = GridIndex::new(grids);
    println!(
        "GridIndex::new: {} grids in {:.1} ms",
        index.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let dense_index = GridIndex::new(dense);

    let pref = nodes[0]
        .geometry
        .as_ref()
        .expect("the prefecture has an outline");
    let bbox = pref.bounding_rect().expect("a non-empty outline");
    let mut rng = Pcg64::seed_from_u64(1);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let points: Vec<Point<f64>> = (0..LOOKUPS)
        .map(|_| {
            Point::new(
                bbox.min().x + unit() * bbox.width(),
                bbox.min().y + unit() * bbox.height(),
            )
        })
        .collect();

    let inside: Vec<Point<f64>> = points
        .iter()
        .copied()
        .filter(|&p| index.locate(p).is_some())
        .collect();

    let mean_vertices = vertices as f64 / index.len() as f64;
    let dense_mean = dense_vertices as f64 / dense_index.len() as f64;
    run("bounding-box points", &index, mean_vertices, &points);
    run("points inside Gannan", &index, mean_vertices, &inside);
    run("bounding-box points", &dense_index, dense_mean, &points);
    run("points inside Gannan", &dense_index, dense_mean, &inside);
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn run(label: &str, index: &GridIndex, mean_vertices: f64, points: &[Point<f64>]) {
    let t = Instant::now();
    let mut hits = 0usize;
    for &p in points {
        if black_box(index.locate(black_box(p))).is_some() {
            hits += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "locate, grids of {mean_vertices:.0} vertices, {} {label} ({:.0}% hit): {:.2} M lookups/s ({:.0} ns each)",
        points.len(),
        hits as f64 * 100.0 / points.len() as f64,
        points.len() as f64 / secs / 1e6,
        secs * 1e9 / points.len() as f64
    );
}
