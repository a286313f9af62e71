//! Generates the demo data set and prints its figures and how long it took.
//!
//! `cargo run --release -p domain --example demo_stats -- full|small`
#![expect(clippy::print_stdout, reason = "an example that prints figures")]

use std::collections::BTreeMap;
use std::time::Instant;

use domain::Level;
use domain::demo::{Scale, generate};

fn main() {
    let scale: Scale = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "full".to_owned())
        .parse()
        .unwrap_or(Scale::Full);
    let t = Instant::now();
    let d = generate(scale);
    let elapsed = t.elapsed();

    let mut levels = BTreeMap::new();
    for n in &d.nodes {
        *levels.entry(n.level()).or_insert(0usize) += 1;
    }
    let mut forces = BTreeMap::new();
    for m in &d.members {
        for f in &m.forces {
            *forces.entry(f.as_str()).or_insert(0usize) += 1;
        }
    }
    let two_forces = d.members.iter().filter(|m| m.forces.len() > 1).count();
    let mut pairings = BTreeMap::new();
    for p in &d.pairings {
        let e = pairings.entry(p.kind.as_str()).or_insert((0usize, 0usize));
        e.0 += 1;
        e.1 += usize::from(p.end.is_some());
    }
    let mut roles = BTreeMap::new();
    for a in &d.accounts {
        *roles.entry(a.role.as_str()).or_insert(0usize) += 1;
    }
    let residents: usize = d.households.iter().map(|h| h.residents.len()).sum();
    let ungrouped = d.households.iter().filter(|h| h.group.is_none()).count();
    let care = d.households.iter().filter(|h| h.care).count();

    println!("scale {scale}: generated in {:.2?}", elapsed);
    for l in Level::ALL {
        println!(
            "  {:<11} {}",
            l.as_str(),
            levels.get(&l).copied().unwrap_or(0)
        );
    }
    println!(
        "  households  {} ({} residents, mean {:.2}; {} ungrouped; {} care)",
        d.households.len(),
        residents,
        residents as f64 / d.households.len().max(1) as f64,
        ungrouped,
        care
    );
    println!(
        "  members     {} ({} with two forces)",
        d.members.len(),
        two_forces
    );
    for (f, n) in &forces {
        println!("    {f:<24} {n}");
    }
    println!("  units       {}", d.units.len());
    println!("  monasteries {}", d.monasteries.len());
    println!("  enterprises {}", d.enterprises.len());
    println!("  pairings    {}", d.pairings.len());
    for (k, (n, ended)) in &pairings {
        println!("    {k:<24} {n} ({ended} ended)");
    }
    println!("  accounts    {}", d.accounts.len());
    for (r, n) in &roles {
        println!("    {r:<24} {n}");
    }

    // `-- small sample`: a look at 达麦村 (623027202201).
    if std::env::args().nth(2).as_deref() == Some("sample") {
        let village = "623027202201";
        for h in d
            .households
            .iter()
            .filter(|h| h.grid.as_str().starts_with(village))
            .take(8)
        {
            println!("{h:?}");
        }
        for m in d
            .members
            .iter()
            .filter(|m| m.territory.as_str().starts_with(village))
            .take(40)
        {
            println!("{m:?}");
        }
        for m in d
            .members
            .iter()
            .filter(|m| m.territory.as_str() == "623027202")
            .take(40)
        {
            println!("{m:?}");
        }
        for a in d
            .accounts
            .iter()
            .filter(|a| a.scope.as_str().starts_with("623027202201"))
            .take(6)
        {
            println!("{a:?}");
        }
        for u in d
            .units
            .iter()
            .filter(|u| u.territory.as_str().starts_with("623027202"))
            .take(8)
        {
            println!("{u:?}");
        }
        for m in &d.monasteries {
            println!("{m:?}");
        }
        for e in d.enterprises.iter().take(20) {
            println!("{e:?}");
        }
        for p in d.pairings.iter().filter(|p| p.end.is_some()).take(5) {
            println!("{p:?}");
        }
    }
}
