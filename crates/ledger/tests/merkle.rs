//! The Merkle tree against RFC 6962's known answers (the transparency-dev vectors, as
//! published with the ct-merkle crate), every proof for 1 ≤ m ≤ n ≤ 8, damaged proofs, and
//! random trees up to 10,000 leaves.

use std::collections::BTreeMap;

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use custody_ledger::merkle::*;
use proptest::prelude::*;
use sha2::Sha256;

const LEAVES: &[&str] = &[
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// RFC 6962 roots of the first n of `LEAVES`, n = 1..8.
const ROOTS: &[&str] = &[
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const INCLUSION: &[(u64, u64, &str)] = &[
    (1, 0, ""),
    (
        2,
        0,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    ),
    (
        2,
        1,
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    ),
    (
        3,
        2,
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ),
    (
        5,
        1,
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d\
         5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e\
         bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ),
    (
        8,
        0,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7\
         5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e\
         6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (
        8,
        5,
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b\
         ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0\
         d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
];

const CONSISTENCY: &[(u64, u64, &str)] = &[
    (1, 1, ""),
    (
        1,
        8,
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7\
         5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e\
         6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    (
        2,
        5,
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e\
         bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ),
    (
        6,
        8,
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a\
         ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0\
         d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ),
];

fn data() -> Vec<Vec<u8>> {
    LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect()
}

fn leaf_hashes() -> Vec<Hash> {
    data().iter().map(|d| leaf_hash(d)).collect()
}

fn joined(p: &[Hash]) -> String {
    p.iter().map(hex::encode).collect()
}

fn ct_tree(n: usize) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut t = MemoryBackedTree::new();
    for d in data().into_iter().take(n) {
        t.push(d);
    }
    t
}

#[test]
fn roots_of_the_standard_eight_leaves() {
    let leaves = leaf_hashes();
    let mut f = Frontier::new();
    for (n, want) in ROOTS.iter().enumerate() {
        f.push(leaves[n]);
        assert_eq!(
            hex::encode(root(&mut Leaves(&leaves), n as u64 + 1)),
            *want,
            "n={}",
            n + 1
        );
        assert_eq!(hex::encode(f.root()), *want, "frontier n={}", n + 1);
        assert_eq!(hex::encode(ct_tree(n + 1).root().as_bytes()), *want);
    }
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn known_answer_proofs() {
    let leaves = leaf_hashes();
    for &(n, m, want) in INCLUSION {
        let p = inclusion_proof(&mut Leaves(&leaves), m, n).unwrap();
        assert_eq!(
            joined(&p),
            want.replace(char::is_whitespace, ""),
            "inclusion {m} of {n}"
        );
    }
    for &(m, n, want) in CONSISTENCY {
        let p = consistency_proof(&mut Leaves(&leaves), m, n).unwrap();
        assert_eq!(
            joined(&p),
            want.replace(char::is_whitespace, ""),
            "consistency {m}→{n}"
        );
    }
}

/// Every way to damage a proof: flip any bit of any hash, drop a hash, add one.
fn damaged(p: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..p.len() {
        for bit in [0usize, 7, 100, 255] {
            let mut q = p.to_vec();
            q[i][bit / 8] ^= 1 << (bit % 8);
            out.push(q);
        }
        let mut q = p.to_vec();
        q.remove(i);
        out.push(q);
    }
    let mut q = p.to_vec();
    q.push([0x42; 32]);
    out.push(q);
    out
}

#[test]
fn every_proof_up_to_eight_leaves_matches_ct_merkle_verifies_and_refuses_damage() {
    let data = data();
    let leaves = leaf_hashes();
    for n in 1..=8u64 {
        let tree = ct_tree(n as usize);
        let r = root(&mut Leaves(&leaves), n);
        for m in 0..n {
            let p = inclusion_proof(&mut Leaves(&leaves), m, n).unwrap();
            assert_eq!(
                joined(&p),
                hex::encode(tree.prove_inclusion(m as usize).as_bytes()),
                "inclusion {m} of {n}"
            );
            verify_inclusion(&data[m as usize], m, n, &r, &p).unwrap();
            for q in damaged(&p) {
                assert!(
                    verify_inclusion(&data[m as usize], m, n, &r, &q).is_err(),
                    "{m} of {n}"
                );
            }
            for wrong in 0..n {
                if wrong != m {
                    assert!(verify_inclusion(&data[m as usize], wrong, n, &r, &p).is_err());
                }
            }
            // Against another size's (signed) root, the proof fails. (Against this root with a
            // different size claimed it may pass where the path has the same shape: RFC 9162's
            // verifier cannot tell, which is why sizes are only trusted from signed checkpoints.)
            for size in (m + 1)..=8 {
                if size != n {
                    let other = root(&mut Leaves(&leaves), size);
                    assert!(
                        verify_inclusion(&data[m as usize], m, size, &other, &p).is_err(),
                        "{m} of {n} accepted as of {size}"
                    );
                }
            }
        }
        for m in 1..=n {
            let old = root(&mut Leaves(&leaves), m);
            let p = consistency_proof(&mut Leaves(&leaves), m, n).unwrap();
            if m < n {
                assert_eq!(
                    joined(&p),
                    hex::encode(tree.prove_consistency((n - m) as usize).as_bytes()),
                    "consistency {m}→{n}"
                );
            }
            verify_consistency(m, &old, n, &r, &p).unwrap();
            for q in damaged(&p) {
                assert!(verify_consistency(m, &old, n, &r, &q).is_err(), "{m}→{n}");
            }
            for size in m..=8 {
                if size != n {
                    let other = root(&mut Leaves(&leaves), size);
                    assert!(
                        verify_consistency(m, &old, size, &other, &p).is_err(),
                        "{m}→{n} as {size}"
                    );
                }
            }
            let mut bad_old = old;
            bad_old[0] ^= 1;
            assert!(verify_consistency(m, &bad_old, n, &r, &p).is_err());
        }
    }
}

#[test]
fn proofs_refuse_impossible_requests() {
    let leaves = leaf_hashes();
    assert!(inclusion_proof(&mut Leaves(&leaves), 8, 8).is_err());
    assert!(consistency_proof(&mut Leaves(&leaves), 0, 8).is_err());
    assert!(consistency_proof(&mut Leaves(&leaves), 5, 4).is_err());
}

/// A store's view: the perfect subtrees a frontier completed, kept by (level, index).
fn stored_nodes(leaves: &[Hash]) -> BTreeMap<(u32, u64), Hash> {
    let mut f = Frontier::new();
    let mut nodes = BTreeMap::new();
    for (i, l) in leaves.iter().enumerate() {
        let i = i as u64;
        nodes.insert((0, i), *l);
        for (k, h) in f.push(*l).into_iter().enumerate() {
            let level = k as u32 + 1;
            nodes.insert((level, i >> level), h);
        }
    }
    nodes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn stored_subtree_proofs_equal_proofs_from_scratch(n in 1u64..=10_000, a in any::<u64>(), b in any::<u64>()) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut stored = stored_nodes(&leaves);
        let r = root(&mut stored, n);
        prop_assert_eq!(r, root(&mut Leaves(&leaves), n));
        let m = a % n;
        let p = inclusion_proof(&mut stored, m, n).unwrap();
        prop_assert_eq!(&p, &inclusion_proof(&mut Leaves(&leaves), m, n).unwrap());
        prop_assert!(p.len() as u32 <= 64 - (n - 1).leading_zeros());
        verify_inclusion(&m.to_be_bytes(), m, n, &r, &p).unwrap();
        let old = 1 + b % n;
        let c = consistency_proof(&mut stored, old, n).unwrap();
        prop_assert_eq!(&c, &consistency_proof(&mut Leaves(&leaves), old, n).unwrap());
        verify_consistency(old, &root(&mut stored, old), n, &r, &c).unwrap();
        // The frontier rebuilt from stored subtrees continues the same tree.
        let mut f = Frontier::from_nodes(old, &mut stored);
        for l in &leaves[old as usize..] {
            f.push(*l);
        }
        prop_assert_eq!(f.root(), r);
        // O(log n) reads: every proof reads at most 2·⌈log2 n⌉ + 2 stored subtrees.
        let bound = 2 * (64 - n.leading_zeros()) as usize + 2;
        prop_assert!(needed_for_inclusion(m, n).unwrap().len() <= bound);
        prop_assert!(needed_for_consistency(old, n).unwrap().len() <= bound);
    }
}
