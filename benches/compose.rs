//! `cargo bench`: the composer on a 100-item synthetic issue, stage by stage
//! and whole (parse, templates, MJML, text), in-process; and merge-tag
//! parsing of hostile text (200 KB of unmatched braces) beside one plain
//! scan of the same text, the floor any parser has.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use missive::compose::{self as render, Issue, LoadedIssue, Templates};
use missive::project::Project;

fn compose(c: &mut Criterion) {
    let text = missive::synthetic::issue(100);
    let path = Path::new("synthetic-100.toml");
    let project = Project::open(Some(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("missive.toml"),
    ))
    .expect("the example config loads");
    let templates = Templates::load(Path::new("no-templates-here")).expect("defaults compile");
    let loaded = LoadedIssue {
        path: path.into(),
        text: text.clone(),
        issue: Issue::parse(&text, path).unwrap(),
    };

    let mut group = c.benchmark_group("compose-100-items");
    group.bench_function("parse", |b| {
        b.iter(|| Issue::parse(black_box(&text), path).unwrap());
    });
    group.bench_function("render", |b| {
        b.iter(|| render::render(black_box(&loaded), &project, &templates).unwrap());
    });
    group.bench_function("parse+render+fill", |b| {
        b.iter(|| {
            let issue = Issue::parse(black_box(&text), path).unwrap();
            let loaded = LoadedIssue {
                path: path.into(),
                text: String::new(),
                issue,
            };
            let rendered = render::render(&loaded, &project, &templates).unwrap();
            let fill = missive::compose::merge::neutral(&project.config);
            (
                rendered.html_merge().fill(&fill),
                rendered.text_merge().fill(&fill),
            )
        });
    });
    group.finish();
}

fn merge_tags(c: &mut Criterion) {
    use missive::compose::merge::{Escape, Merge};
    let unmatched = "{{".repeat(100_000);
    let opens = format!("{}}}}}", "{{ x ".repeat(40_000));
    let mut group = c.benchmark_group("merge-tags-200KB");
    for (name, text) in [("unmatched", &unmatched), ("opens-then-close", &opens)] {
        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| Merge::parse(black_box(text), Escape::None));
        });
        group.bench_function(format!("{name}/one-scan"), |b| {
            b.iter(|| black_box(text).matches("{{").count());
        });
    }
    group.finish();
}

criterion_group!(benches, compose, merge_tags);
criterion_main!(benches);
