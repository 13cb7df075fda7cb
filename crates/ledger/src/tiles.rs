//! C2SP tlog-tiles addresses: which tile or entry bundle a path names, and whether a tree of a
//! given size holds it. The ledger's Merkle tree (§7) is the tree tiles are cut from: tiles of
//! height 8, each hash at level `L` the root of a perfect subtree of `256^L` leaves; a leaf's
//! data is the 32-byte entry hash (§7.1).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels a tile spans.
pub const TILE_HEIGHT: u32 = 8;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// `tile/<L>/<N>`: Merkle tree hashes at tile level `L`.
    Hashes { level: u8 },
    /// `tile/entries/<N>`: the leaves' data.
    Entries,
}

/// A tile or entry bundle: kind, index within its level, width (256 for a full one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    pub kind: TileKind,
    pub index: u64,
    pub width: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a tile path (tlog-tiles: <L>/<N>[.p/<W>] or entries/<N>[.p/<W>]): {0}")]
pub struct TilePathError(String);

fn decimal<T: FromStr>(s: &str) -> Option<T> {
    // Decimal ASCII, no sign, no leading zeroes.
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

impl FromStr for TilePath {
    type Err = TilePathError;

    /// Parses the part of a tile path after `tile/`.
    fn from_str(path: &str) -> Result<Self, Self::Err> {
        let bad = || TilePathError(path.chars().take(80).collect());
        let mut parts: Vec<&str> = path.split('/').collect();
        let kind = match parts.first() {
            Some(&"entries") => TileKind::Entries,
            Some(l) => TileKind::Hashes {
                level: decimal::<u8>(l).filter(|l| *l <= 63).ok_or_else(bad)?,
            },
            None => return Err(bad()),
        };
        parts.remove(0);
        let mut width = TILE_WIDTH as u16;
        if parts.len() >= 2 && parts[parts.len() - 2].ends_with(".p") {
            let w = decimal::<u16>(parts[parts.len() - 1])
                .filter(|w| (1..TILE_WIDTH as u16).contains(w))
                .ok_or_else(bad)?;
            width = w;
            parts.pop();
            let last = parts.len() - 1;
            parts[last] = parts[last].strip_suffix(".p").ok_or_else(bad)?;
        }
        if parts.is_empty() {
            return Err(bad());
        }
        let mut index: u64 = 0;
        let last = parts.len() - 1;
        for (i, p) in parts.iter().enumerate() {
            let digits = if i < last {
                p.strip_prefix('x').ok_or_else(bad)?
            } else {
                p
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let d: u64 = digits.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(d))
                .ok_or_else(bad)?;
        }
        let parsed = TilePath { kind, index, width };
        // One index, one path: "x000/001" is not "001".
        if parsed.to_string() != path {
            return Err(bad());
        }
        Ok(parsed)
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TileKind::Hashes { level } => write!(f, "{level}/")?,
            TileKind::Entries => f.write_str("entries/")?,
        }
        let mut groups = vec![self.index % 1000];
        let mut n = self.index / 1000;
        while n > 0 {
            groups.push(n % 1000);
            n /= 1000;
        }
        for (i, g) in groups.iter().rev().enumerate() {
            if i + 1 < groups.len() {
                write!(f, "x{g:03}/")?;
            } else {
                write!(f, "{g:03}")?;
            }
        }
        if u64::from(self.width) != TILE_WIDTH {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

impl TilePath {
    /// Whether this is a full tile (256 wide).
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tree level (height above the leaves) of the tile's hashes: 8 per tile level.
    pub fn tree_level(&self) -> u32 {
        match self.kind {
            TileKind::Hashes { level } => u32::from(level) * TILE_HEIGHT,
            TileKind::Entries => 0,
        }
    }

    /// The index, at [`TilePath::tree_level`], of the tile's first hash (or entry).
    pub fn first(&self) -> Option<u64> {
        self.index.checked_mul(TILE_WIDTH)
    }

    /// Whether a tree of `size` leaves holds every hash (or entry) of this tile: a tile is
    /// served only once all of it exists.
    pub fn within(&self, size: u64) -> bool {
        let leaves = self
            .first()
            .and_then(|f| f.checked_add(u64::from(self.width)))
            .and_then(|end| {
                let shift = self.tree_level();
                if shift >= 64 {
                    None
                } else {
                    end.checked_mul(1u64 << shift)
                }
            });
        leaves.is_some_and(|l| l <= size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_as_the_spec_writes_them_and_only_so() {
        let p: TilePath = "0/x001/x234/067".parse().unwrap();
        assert_eq!(
            p,
            TilePath {
                kind: TileKind::Hashes { level: 0 },
                index: 1_234_067,
                width: 256
            }
        );
        let p: TilePath = "entries/000.p/5".parse().unwrap();
        assert_eq!((p.kind, p.index, p.width), (TileKind::Entries, 0, 5));
        let p: TilePath = "2/001.p/255".parse().unwrap();
        assert_eq!(p.to_string(), "2/001.p/255");
        for bad in [
            "",
            "00/000",
            "64/000",
            "0/1",
            "0/x000/001",
            "0/001.p/0",
            "0/001.p/256",
            "0/001.p/05",
            "0/001/",
            "0/x001",
            "entries",
            "entries/01",
            "0/001.p",
            "-1/000",
            "0/x1000/000",
            "0/x018/x446/x744/x073/x709/x551/616",
        ] {
            assert!(bad.parse::<TilePath>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tile_is_within_a_tree_once_all_of_it_exists() {
        let full0: TilePath = "0/000".parse().unwrap();
        assert!(!full0.within(255));
        assert!(full0.within(256));
        let p: TilePath = "0/001.p/3".parse().unwrap();
        assert!(!p.within(258));
        assert!(p.within(259));
        // The spec's example: a tree of 70,000 has one full level-1 tile and a partial one of
        // width 17, and a level-2 tile of width 1.
        assert!("1/000".parse::<TilePath>().unwrap().within(70_000));
        assert!("1/001.p/17".parse::<TilePath>().unwrap().within(70_000));
        assert!(!"1/001.p/18".parse::<TilePath>().unwrap().within(70_000));
        assert!("2/000.p/1".parse::<TilePath>().unwrap().within(70_000));
        assert!(!"63/000".parse::<TilePath>().unwrap().within(u64::MAX));
    }
}
