//! Which grid a WGS-84 position lies in: an R-tree on bounding boxes, then an exact point-in-polygon test.

use std::ops::ControlFlow;

use geo::coordinate_position::CoordPos;
use geo::{BoundingRect, Coord, CoordinatePosition, MultiPolygon, Point, Polygon};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use crate::territory::TerritoryCode;

/// The bounding box of one polygon part, pointing at (grid rank, part index).
type Entry = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// A spatial index over grid outlines (WGS-84), answering "which grid is this point in?".
///
/// Each polygon part of each grid is indexed by its own bounding box, so a query tests only the
/// parts whose box holds the point, usually one or two.
///
/// Ties are broken deterministically: a point on the border shared by several grids (an edge or
/// a vertex), or in the sliver where two generated outlines overlap by rounding, belongs to the
/// grid with the smallest code.
pub struct GridIndex {
    /// Sorted by code, so a grid's rank is also its priority on a shared border.
    codes: Vec<TerritoryCode>,
    parts: Vec<Vec<Polygon<f64>>>,
    tree: RTree<Entry>,
}

impl GridIndex {
    /// Index these grids. Empty outlines are kept (they never match). If a code appears twice,
    /// the first outline given wins on their common ground.
    pub fn new(mut grids: Vec<(TerritoryCode, MultiPolygon<f64>)>) -> GridIndex {
        // Stable: equal codes keep their input order.
        grids.sort_by(|a, b| a.0.cmp(&b.0));
        let mut codes = Vec::with_capacity(grids.len());
        let mut parts = Vec::with_capacity(grids.len());
        let mut entries = Vec::new();
        for (rank, (code, shape)) in grids.into_iter().enumerate() {
            let rank = u32::try_from(rank).expect("fewer than 4 billion grids");
            for (k, polygon) in shape.0.iter().enumerate() {
                if let Some(r) = polygon.bounding_rect() {
                    let rect =
                        Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
                    let k = u32::try_from(k).expect("fewer than 4 billion parts");
                    entries.push(GeomWithData::new(rect, (rank, k)));
                }
            }
            codes.push(code);
            parts.push(shape.0);
        }
        GridIndex {
            codes,
            parts,
            tree: RTree::bulk_load(entries),
        }
    }

    /// The grid containing `p` (WGS-84 lng/lat), or `None` if it lies outside every grid.
    /// Points on a border go to the grid with the smallest code.
    pub fn locate(&self, p: Point<f64>) -> Option<&TerritoryCode> {
        let c: Coord<f64> = p.0;
        let mut best: Option<u32> = None;
        let _ = self.tree.locate_all_at_point_int(&[c.x, c.y], |entry| {
            let (rank, k) = entry.data;
            // A grid ranked after the current winner cannot win; skip its polygon test.
            if best.is_none_or(|b| rank < b)
                && self.parts[rank as usize][k as usize].coordinate_position(&c)
                    != CoordPos::Outside
            {
                best = Some(rank);
            }
            ControlFlow::<()>::Continue(())
        });
        best.map(|rank| &self.codes[rank as usize])
    }

    /// Number of grids indexed.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether no grid is indexed.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, polygon};

    fn code(s: &str) -> TerritoryCode {
        TerritoryCode::parse(s).unwrap()
    }

    fn square(x: f64, y: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: x, y: y),
            (x: x + 1.0, y: y),
            (x: x + 1.0, y: y + 1.0),
            (x: x, y: y + 1.0),
        ]])
    }

    /// Four unit squares meeting at (1, 1); codes deliberately not in spatial order.
    fn four_squares() -> GridIndex {
        GridIndex::new(vec![
            (code("623027202201003"), square(0.0, 0.0)),
            (code("623027202201001"), square(1.0, 0.0)),
            (code("623027202201004"), square(0.0, 1.0)),
            (code("623027202201002"), square(1.0, 1.0)),
        ])
    }

    #[test]
    fn interior_points_find_their_square() {
        let idx = four_squares();
        assert_eq!(idx.len(), 4);
        assert_eq!(
            idx.locate(point!(x: 0.5, y: 0.5)).unwrap().as_str(),
            "623027202201003"
        );
        assert_eq!(
            idx.locate(point!(x: 1.5, y: 0.5)).unwrap().as_str(),
            "623027202201001"
        );
        assert_eq!(
            idx.locate(point!(x: 0.5, y: 1.5)).unwrap().as_str(),
            "623027202201004"
        );
        assert_eq!(
            idx.locate(point!(x: 1.5, y: 1.5)).unwrap().as_str(),
            "623027202201002"
        );
    }

    #[test]
    fn shared_edge_goes_to_smallest_code() {
        let idx = four_squares();
        // Edge between ...003 (left) and ...001 (right).
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 0.5)).unwrap().as_str(),
            "623027202201001"
        );
        // Edge between ...003 (below) and ...004 (above).
        assert_eq!(
            idx.locate(point!(x: 0.5, y: 1.0)).unwrap().as_str(),
            "623027202201003"
        );
        // Edge between ...004 (left) and ...002 (right).
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 1.5)).unwrap().as_str(),
            "623027202201002"
        );
    }

    #[test]
    fn shared_vertex_goes_to_smallest_code() {
        let idx = four_squares();
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 1.0)).unwrap().as_str(),
            "623027202201001"
        );
        // Two-way vertex on the outer boundary.
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 0.0)).unwrap().as_str(),
            "623027202201001"
        );
        assert_eq!(
            idx.locate(point!(x: 0.0, y: 1.0)).unwrap().as_str(),
            "623027202201003"
        );
    }

    #[test]
    fn two_adjacent_squares_edge_and_vertex() {
        let idx = GridIndex::new(vec![
            (code("623027202201002"), square(0.0, 0.0)),
            (code("623027202201001"), square(1.0, 0.0)),
        ]);
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 0.25)).unwrap().as_str(),
            "623027202201001"
        );
        assert_eq!(
            idx.locate(point!(x: 1.0, y: 1.0)).unwrap().as_str(),
            "623027202201001"
        );
        assert_eq!(
            idx.locate(point!(x: 0.0, y: 0.0)).unwrap().as_str(),
            "623027202201002"
        );
    }

    #[test]
    fn outside_every_grid_is_none() {
        let idx = four_squares();
        assert_eq!(idx.locate(point!(x: 2.5, y: 0.5)), None);
        assert_eq!(idx.locate(point!(x: -0.001, y: 1.0)), None);
        assert!(
            GridIndex::new(vec![])
                .locate(point!(x: 0.0, y: 0.0))
                .is_none()
        );
        assert!(GridIndex::new(vec![]).is_empty());
    }

    #[test]
    fn holes_and_multi_part_grids() {
        let ring = MultiPolygon(vec![
            Polygon::new(
                geo::LineString::from(vec![
                    (0.0, 0.0),
                    (3.0, 0.0),
                    (3.0, 3.0),
                    (0.0, 3.0),
                    (0.0, 0.0),
                ]),
                vec![geo::LineString::from(vec![
                    (1.0, 1.0),
                    (2.0, 1.0),
                    (2.0, 2.0),
                    (1.0, 2.0),
                    (1.0, 1.0),
                ])],
            ),
            polygon![(x: 10.0, y: 10.0), (x: 11.0, y: 10.0), (x: 11.0, y: 11.0)],
        ]);
        let idx = GridIndex::new(vec![
            (code("623027202201009"), ring),
            (code("623027202201010"), square(1.0, 1.0)),
        ]);
        assert_eq!(
            idx.locate(point!(x: 0.5, y: 0.5)).unwrap().as_str(),
            "623027202201009"
        );
        assert_eq!(
            idx.locate(point!(x: 1.5, y: 1.5)).unwrap().as_str(),
            "623027202201010"
        );
        assert_eq!(
            idx.locate(point!(x: 10.9, y: 10.1)).unwrap().as_str(),
            "623027202201009"
        );
        assert_eq!(idx.locate(point!(x: 10.1, y: 10.9)), None);
    }
}
