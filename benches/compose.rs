//! `cargo bench`: the composer on a 100-item synthetic issue, stage by stage
//! and whole (parse, templates, MJML, text), in-process.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use missive::config::Project;
use missive::issue::{Issue, LoadedIssue};
use missive::render::{self, Templates};

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
        b.iter(|| Issue::parse(black_box(&text), path).unwrap())
    });
    group.bench_function("render", |b| {
        b.iter(|| render::render(black_box(&loaded), &project, &templates).unwrap())
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
            let fill = missive::personalize::neutral(&project.config);
            (
                rendered.html_merge().fill(&fill),
                rendered.text_merge().fill(&fill),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, compose);
criterion_main!(benches);
