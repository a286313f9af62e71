//! Deterministic partition of a region into n Voronoi cells, for outlines no one publishes.
//!
//! Townships, villages and grids have no public outlines, yet the map, the grid lookup and the
//! statistics need shapes that tile their parent exactly. We generate them: n seats spread
//! through the region, the Voronoi cell of each seat, each cell cut to the region. The same
//! region, n and seed always give the same cells, bit for bit, so codes and shapes are stable
//! across builds and machines (only IEEE +, −, ×, ÷ and geo's integer-snapped boolean ops are
//! involved; no transcendental functions, no threads).
//!
//! Distances are Euclidean on lng/lat degrees: at the scale of a county the stretch between a
//! degree of longitude and one of latitude only makes cells slightly taller than wide.

use geo::coordinate_position::CoordPos;
use geo::{
    Area, BooleanOps, BoundingRect, Coord, CoordinatePosition, LineString, MultiPolygon, Point,
    Polygon, Rect,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// One cell of a partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The generating point; always inside `shape`. Useful as a label anchor or a "centre".
    pub seat: Point<f64>,
    /// The part of the region closest to `seat`.
    pub shape: MultiPolygon<f64>,
}

/// Samples per seat in the pool that seats are drawn from and relaxed on.
const SAMPLES_PER_SEAT: usize = 32;
/// Candidates tried per seat in best-candidate sampling.
const CANDIDATES: usize = 10;
/// Rounds of Lloyd relaxation, which evens out the cell areas.
const LLOYD_ROUNDS: usize = 3;
/// Give up drawing a point inside the region after this many misses per wanted point.
const MAX_MISSES: usize = 10_000;

/// Split `region` into `n` cells that cover it without overlap, ordered north to south, then
/// west to east, by seat.
///
/// Seats are drawn inside the region from a PCG stream seeded with `seed` (best-candidate
/// sampling, then a few rounds of Lloyd relaxation on a fixed sample of the region), so they
/// are spread out and the cells have similar areas. Each cell is the seat's Voronoi cell (built
/// by clipping the region's bounding box against perpendicular bisectors) intersected with the
/// region; a cell may consist of several pieces where the region is very irregular.
///
/// Returns an empty Vec when `n` is 0 or the region has no area. With `n == 1` the only cell is
/// the region itself.
pub fn partition(region: &MultiPolygon<f64>, n: usize, seed: u64) -> Vec<Cell> {
    if n == 0 || region.unsigned_area() <= 0.0 {
        return Vec::new();
    }
    let Some(bbox) = region.bounding_rect() else {
        return Vec::new();
    };
    let mut rng = Pcg64::seed_from_u64(seed);
    let pool = sample_inside(region, bbox, n * SAMPLES_PER_SEAT.max(CANDIDATES), &mut rng);
    if pool.len() < n {
        // A region this thin cannot be sampled; nothing sensible to generate.
        return Vec::new();
    }
    if n == 1 {
        return vec![Cell {
            seat: Point(pool[0]),
            shape: region.clone(),
        }];
    }
    let mut seats = best_candidate_seats(&pool, n, &mut rng);
    for _ in 0..LLOYD_ROUNDS {
        lloyd_step(&pool, &mut seats);
    }

    let frame = expand(bbox);
    let mut cells: Vec<Cell> = seats
        .iter()
        .enumerate()
        .map(|(i, &seat)| {
            let voronoi = voronoi_cell(&seats, i, &frame);
            Cell {
                seat: Point(seat),
                shape: region.intersection(&voronoi),
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        b.seat
            .y()
            .total_cmp(&a.seat.y())
            .then(a.seat.x().total_cmp(&b.seat.x()))
    });
    cells
}

/// A uniform draw in [0, 1) from the top 53 bits, independent of rand's float conversion so
/// the output does not shift when rand changes its sampling.
fn unit(rng: &mut Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `count` points strictly inside `region`, by rejection from its bounding box.
fn sample_inside(
    region: &MultiPolygon<f64>,
    bbox: Rect<f64>,
    count: usize,
    rng: &mut Pcg64,
) -> Vec<Coord<f64>> {
    let (min, w, h) = (bbox.min(), bbox.width(), bbox.height());
    let mut out = Vec::with_capacity(count);
    let mut misses = 0;
    while out.len() < count && misses < MAX_MISSES * count {
        let c = Coord {
            x: min.x + unit(rng) * w,
            y: min.y + unit(rng) * h,
        };
        if region.coordinate_position(&c) == CoordPos::Inside {
            out.push(c);
        } else {
            misses += 1;
        }
    }
    out
}

fn dist2(a: Coord<f64>, b: Coord<f64>) -> f64 {
    let (dx, dy) = (a.x - b.x, a.y - b.y);
    dx * dx + dy * dy
}

/// Mitchell's best-candidate sampling over the pool: each new seat is, of a few random pool
/// points, the one farthest from the seats chosen so far.
fn best_candidate_seats(pool: &[Coord<f64>], n: usize, rng: &mut Pcg64) -> Vec<Coord<f64>> {
    let mut seats = vec![pool[0]];
    let pick = |rng: &mut Pcg64| pool[(rng.next_u64() % pool.len() as u64) as usize];
    while seats.len() < n {
        let mut best: Option<(f64, Coord<f64>)> = None;
        for _ in 0..CANDIDATES {
            let c = pick(rng);
            let d = seats
                .iter()
                .map(|&s| dist2(s, c))
                .fold(f64::INFINITY, f64::min);
            if d > 0.0 && best.is_none_or(|(bd, _)| d > bd) {
                best = Some((d, c));
            }
        }
        if let Some((_, c)) = best {
            seats.push(c);
        }
    }
    seats
}

/// One round of Lloyd relaxation on the pool: each seat moves to the pool point nearest to the
/// mean of the pool points it owns. Snapping to a pool point keeps seats inside non-convex
/// regions and distinct from each other (the pool points owned by different seats are disjoint).
fn lloyd_step(pool: &[Coord<f64>], seats: &mut [Coord<f64>]) {
    let owner: Vec<usize> = pool.iter().map(|&p| nearest(seats, p)).collect();
    let mut sums = vec![(0.0, 0.0, 0usize); seats.len()];
    for (&p, &o) in pool.iter().zip(&owner) {
        sums[o].0 += p.x;
        sums[o].1 += p.y;
        sums[o].2 += 1;
    }
    for (i, seat) in seats.iter_mut().enumerate() {
        let (sx, sy, k) = sums[i];
        if k == 0 {
            continue;
        }
        let mean = Coord {
            x: sx / k as f64,
            y: sy / k as f64,
        };
        let mut best = (f64::INFINITY, *seat);
        for (&p, &o) in pool.iter().zip(&owner) {
            if o == i {
                let d = dist2(p, mean);
                if d < best.0 {
                    best = (d, p);
                }
            }
        }
        *seat = best.1;
    }
}

/// Index of the seat nearest to `p`; ties go to the lower index.
fn nearest(seats: &[Coord<f64>], p: Coord<f64>) -> usize {
    let mut best = (f64::INFINITY, 0);
    for (i, &s) in seats.iter().enumerate() {
        let d = dist2(s, p);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

/// The bounding box grown by 1% on each side, so no region vertex sits on the frame.
fn expand(bbox: Rect<f64>) -> Vec<Coord<f64>> {
    let m = bbox.width().max(bbox.height()) * 0.01;
    let (lo, hi) = (bbox.min(), bbox.max());
    vec![
        Coord {
            x: lo.x - m,
            y: lo.y - m,
        },
        Coord {
            x: hi.x + m,
            y: lo.y - m,
        },
        Coord {
            x: hi.x + m,
            y: hi.y + m,
        },
        Coord {
            x: lo.x - m,
            y: hi.y + m,
        },
    ]
}

/// The Voronoi cell of `seats[i]` within the convex `frame`: the frame clipped by the half-plane
/// nearer to seat i than to seat j, for every j.
fn voronoi_cell(seats: &[Coord<f64>], i: usize, frame: &[Coord<f64>]) -> Polygon<f64> {
    let s = seats[i];
    let mut ring = frame.to_vec();
    for (j, &t) in seats.iter().enumerate() {
        if j == i || ring.is_empty() {
            continue;
        }
        let mid = Coord {
            x: (s.x + t.x) / 2.0,
            y: (s.y + t.y) / 2.0,
        };
        let dir = Coord {
            x: t.x - s.x,
            y: t.y - s.y,
        };
        ring = clip_half_plane(&ring, mid, dir);
    }
    Polygon::new(LineString::from(ring), vec![])
}

/// Sutherland–Hodgman against one half-plane: keeps the part of the convex ring where
/// `(p − mid) · dir ≤ 0`.
fn clip_half_plane(ring: &[Coord<f64>], mid: Coord<f64>, dir: Coord<f64>) -> Vec<Coord<f64>> {
    let side = |p: Coord<f64>| (p.x - mid.x) * dir.x + (p.y - mid.y) * dir.y;
    let mut out = Vec::with_capacity(ring.len() + 1);
    for (k, &a) in ring.iter().enumerate() {
        let b = ring[(k + 1) % ring.len()];
        let (fa, fb) = (side(a), side(b));
        if fa <= 0.0 {
            out.push(a);
        }
        if (fa < 0.0 && fb > 0.0) || (fa > 0.0 && fb < 0.0) {
            let t = fa / (fa - fb);
            out.push(Coord {
                x: a.x + (b.x - a.x) * t,
                y: a.y + (b.y - a.y) * t,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Intersects, polygon};

    /// An L-shaped region with a hole, plus a detached island: non-convex and multi-part.
    fn awkward_region() -> MultiPolygon<f64> {
        let l = Polygon::new(
            LineString::from(vec![
                (100.0, 30.0),
                (102.0, 30.0),
                (102.0, 31.0),
                (101.0, 31.0),
                (101.0, 32.0),
                (100.0, 32.0),
                (100.0, 30.0),
            ]),
            vec![LineString::from(vec![
                (100.2, 30.2),
                (100.6, 30.2),
                (100.6, 30.6),
                (100.2, 30.6),
                (100.2, 30.2),
            ])],
        );
        let island = polygon![(x: 103.0, y: 31.0), (x: 103.5, y: 31.0), (x: 103.5, y: 31.5), (x: 103.0, y: 31.5)];
        MultiPolygon(vec![l, island])
    }

    fn check_partition(region: &MultiPolygon<f64>, n: usize, seed: u64) {
        let cells = partition(region, n, seed);
        assert_eq!(cells.len(), n);
        let total: f64 = cells.iter().map(|c| c.shape.unsigned_area()).sum();
        let area = region.unsigned_area();
        assert!((total - area).abs() / area < 1e-3, "{total} vs {area}");
        for (k, c) in cells.iter().enumerate() {
            assert!(c.shape.unsigned_area() > 0.0, "cell {k} empty");
            assert!(c.shape.contains(&c.seat), "seat {k} outside its cell");
            assert!(region.contains(&c.seat));
        }
        // Pairwise overlaps are at most the snapping noise of the boolean ops (~1e-9 degrees
        // along shared edges).
        for (a, ca) in cells.iter().enumerate() {
            for cb in &cells[a + 1..] {
                if ca.shape.intersects(&cb.shape) {
                    let overlap = ca.shape.intersection(&cb.shape).unsigned_area();
                    assert!(overlap < area * 1e-7, "overlap {overlap}");
                }
            }
        }
        // North to south, then west to east.
        for w in cells.windows(2) {
            let (p, q) = (w[0].seat, w[1].seat);
            assert!(p.y() > q.y() || (p.y() == q.y() && p.x() <= q.x()));
        }
    }

    #[test]
    fn covers_without_overlap() {
        let region = awkward_region();
        for (n, seed) in [(1, 1), (2, 7), (5, 623027), (17, 42), (40, 9)] {
            check_partition(&region, n, seed);
        }
    }

    #[test]
    fn same_input_same_output() {
        let region = awkward_region();
        assert_eq!(partition(&region, 12, 5), partition(&region, 12, 5));
        assert_ne!(partition(&region, 12, 5), partition(&region, 12, 6));
    }

    #[test]
    fn degenerate_inputs_give_nothing() {
        assert!(partition(&awkward_region(), 0, 1).is_empty());
        assert!(partition(&MultiPolygon::new(vec![]), 3, 1).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn any_seed_tiles_the_region(n in 1usize..12, seed in proptest::prelude::any::<u64>()) {
            check_partition(&awkward_region(), n, seed);
        }
    }

    #[test]
    fn cells_have_comparable_areas() {
        let square = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0)],
        ]);
        let cells = partition(&square, 10, 3);
        let areas: Vec<f64> = cells.iter().map(|c| c.shape.unsigned_area()).collect();
        let (lo, hi) = areas
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &a| (l.min(a), h.max(a)));
        assert!(hi / lo < 4.0, "areas {areas:?}");
    }
}
