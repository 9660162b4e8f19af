"""cnnlab report: the page of a real Fashion-MNIST run parsed (self-contained, every
image decodes, captions, sections), names from configs and classes escaped, damaged
runs still reported, the train hook, and the page opened in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

SECTIONS = ("status", "config", "layers", "curves", "metrics", "mistakes", "learned", "environment")
EVIL = "<script>alert(1)</script><img src=http://example.com/x.png>"


class Page(HTMLParser):
    """The parts of an HTML page the tests check."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []  # every src / href value
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.captions: list[str] = []
        self.meta: list[dict] = []
        self.figures = 0
        self._in_caption = False
        self.text_parts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        for key in ("src", "href"):
            if key in attrs:
                self.links.append(attrs[key])
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "figure":
            self.figures += 1
        if tag == "figcaption":
            self._in_caption = True
            self.captions.append("")
        if tag == "meta":
            self.meta.append(attrs)

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        self.text_parts.append(data)
        if self._in_caption:
            self.captions[-1] += data

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)


def check_self_contained(html: str) -> Page:
    """The report's promise: nothing to fetch, every picture decodes and has a caption."""
    page = Page(html)
    csp = [m["content"] for m in page.meta if m.get("http-equiv", "").lower() == "content-security-policy"]
    assert csp and "default-src 'none'" in csp[0] and "img-src data:" in csp[0], csp
    assert not {"script", "link", "iframe", "object", "embed", "base"} & set(page.tags)
    assert "url(" not in html  # no CSS fetches either
    for link in page.links:  # the one file beside it: the run's interactive network page
        assert link.startswith(("data:", "#")) or link == "network.html", link[:80]
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.width > 50 and image.height > 50
    assert page.figures == len(page.images) == len(page.captions)
    assert all(len(c.strip()) > 20 for c in page.captions), page.captions
    return page


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a run (the shared fixture stays untouched)."""
    return Path(shutil.copytree(run, dest, ignore=shutil.ignore_patterns("report.html")))


@pytest.fixture(scope="module")
def reported(fashion_run, tmp_path_factory):
    """A copy of the real run, reported once with pictures drawn: (run dir, Report)."""
    from cnnlab.inspect.report import write_report

    run = copy_run(fashion_run, tmp_path_factory.mktemp("reported") / "fashion" / "20260101-120000")
    # as training leaves it: other test files may have drawn into the shared run before this one
    shutil.rmtree(run / "plots" / "visualize", ignore_errors=True)
    (run / "network.html").unlink(missing_ok=True)
    return run, write_report(run)


# ---------------------------------------------------------------- a real run


def test_report_of_a_real_run_is_one_self_contained_page(reported):
    run, report = reported
    assert report.path == run / "report.html"
    assert not list(run.glob(".report*"))  # written atomically: no temporary file left
    html = report.path.read_text(encoding="utf-8")
    page = check_self_contained(html)
    assert set(SECTIONS) <= page.ids
    assert not report.problems, report.problems
    # status, timings, test metrics and the layer table come from the run's own files
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"{metrics['test_accuracy']:.4f}" in page.text
    headline = html.split("<p class=headline>", 1)[1].split("</p>", 1)[0]  # the answer comes first
    assert f"test accuracy <b>{metrics['test_accuracy']:.4f}</b>" in headline and "best epoch 1 of 1" in headline
    assert "done" in page.text and "conv2d_1" in page.text and "333,526" in page.text
    assert "3·3·32·64 + 64 = 18,496" in page.text  # parameter arithmetic
    assert f"precision {metrics['precision']}" in page.text  # what the run computed in
    for name in metrics["class_names"]:
        assert name in page.text  # the per-class table
    # every picture of the run is in the page: history, confusion matrix, mistakes,
    # and the filters/feature maps/Grad-CAM the report drew because they were missing
    drawn = [p.relative_to(run / "plots" / "visualize").as_posix() for p in report.drawn]
    mistakes = [int(line.split(",")[0]) for line in (run / "mistakes.csv").read_text().splitlines()[1:4]]
    assert drawn == ["conv2d/filters.png", "conv2d/feature-maps.png", "conv2d_1/filters.png",
                     "conv2d_1/feature-maps.png",  # and Grad-CAM of the three most confident mistakes:
                     *(f"conv2d_1/gradcam{'' if i == 0 else f'-test{i}'}.png" for i in mistakes)]  # fmt: skip
    assert len(page.images) == 3 + len(drawn)
    gradcams = [c for c in page.captions if c.startswith("Grad-CAM at conv2d_1 for test #")]
    assert len(gradcams) == 3 and all("The model predicted" in c for c in gradcams), gradcams
    assert "network.html" in page.links and (run / "network.html").is_file()  # written and linked by the report
    assert any(c.startswith("Confusion matrix") for c in page.captions)
    for needle in ("Python", "TensorFlow", "Keras", "cnnlab", "device"):
        assert needle in page.text


def test_report_again_reuses_pictures_and_zero_budget_draws_none(reported, tmp_path):
    from cnnlab.inspect.report import write_report

    run, _ = reported
    assert write_report(run).drawn == []  # all there already
    bare = copy_run(run, tmp_path / "run")
    shutil.rmtree(bare / "plots" / "visualize")
    report = write_report(bare, visualize_budget=0)
    assert report.drawn == [] and not (bare / "plots" / "visualize").exists()
    check_self_contained(report.path.read_text())


def test_names_from_config_and_classes_are_escaped(reported, tmp_path):
    from cnnlab.inspect.report import write_report

    run = copy_run(reported[0], tmp_path / "evil")
    config = (run / "config.yaml").read_text().replace("name: fashion", f"name: {json.dumps(EVIL)}", 1)
    (run / "config.yaml").write_text(config)
    classes = json.loads((run / "classes.json").read_text())
    classes[0] = EVIL
    (run / "classes.json").write_text(json.dumps(classes))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["class_names"][0] = EVIL
    metrics["per_class"] = {EVIL if i == 0 else k: v for i, (k, v) in enumerate(metrics["per_class"].items())}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "plots" / "confusion_matrix.png").unlink()  # redrawn from metrics.json, with the evil name
    html = write_report(run, visualize_budget=0).path.read_text()
    page = check_self_contained(html)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL in page.text  # shown to the reader as text, in the title, config and per-class table
    assert "http://example.com" not in page.links


def test_several_phases_are_marked_on_the_curves(reported, tmp_path):
    from cnnlab.inspect.report import write_report

    run = copy_run(reported[0], tmp_path / "phases")
    header, row = (run / "history.csv").read_text().splitlines()[:2]
    cells = row.split(",")
    rows = []
    for epoch, phase in ((1, 1), (2, 1), (3, 2), (4, 2)):
        cells[0], cells[-1] = str(epoch), str(phase)
        rows.append(",".join(cells))
    (run / "history.csv").write_text("\n".join([header, *rows]) + "\n")
    page = check_self_contained(write_report(run, visualize_budget=0).path.read_text())
    curves = [c for c in page.captions if c.startswith("Loss and accuracy")]
    assert curves and "new training phase" in curves[0]


def test_augmentation_preview_is_shown_where_cnnlab_augment_wrote_it(reported, tmp_path):
    from cnnlab.inspect.report import write_report

    run = copy_run(reported[0], tmp_path / "fashion" / "20260101-150000")
    page = check_self_contained(write_report(run, visualize_budget=0).path.read_text())
    assert "augmentation" not in page.ids  # no preview: no section
    # cnnlab augment writes <output-dir>/<name>/augment-preview.png, beside the runs of that config
    Image.new("RGB", (320, 200), "white").save(run.parent / "augment-preview.png")
    page = check_self_contained(write_report(run, visualize_budget=0).path.read_text())
    assert "augmentation" in page.ids
    assert any(c.startswith("Augmentation preview: one training image") for c in page.captions)


# ---------------------------------------------------------------- damaged runs


def damage_no_metrics_cut_history(run: Path):
    (run / "metrics.json").unlink()
    text = (run / "history.csv").read_text()
    (run / "history.csv").write_text(text[: len(text) - 20])  # cut inside the last row
    (run / "status.json").write_text('{"state": "interrupted", "epoch": 1, "epochs": 5, "error": "stopped by Ctrl-C"}')
    return ["metrics.json: missing", "history.csv: 1 damaged row skipped"]


def damage_bad_json_everywhere(run: Path):
    (run / "status.json").write_text('{"state": "runn')
    (run / "metrics.json").write_text("[1, 2")
    (run / "classes.json").write_text('{"not": "a list"}')
    (run / "summary.txt").unlink()
    return ["status.json: damaged", "metrics.json: damaged", "classes.json: damaged"]


def damage_model_and_config(run: Path):
    (run / "model.keras").write_bytes(b"not a zip file")
    (run / "config.yaml").write_text("name: [unclosed\n")
    shutil.rmtree(run / "plots")
    return [f"model.keras: {run / 'model.keras'} is damaged", "config.yaml: damaged"]  # issue 11 wording


def damage_only_a_config(run: Path):
    for item in run.iterdir():
        if item.name != "config.yaml":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    return ["model.keras: missing", "history.csv: missing", "metrics.json: missing"]


@pytest.mark.parametrize("damage", [damage_no_metrics_cut_history, damage_bad_json_everywhere,
                                    damage_model_and_config, damage_only_a_config])  # fmt: skip
def test_a_damaged_run_still_gets_a_report_that_says_what_is_missing(reported, tmp_path, damage):
    from cnnlab.inspect.report import write_report

    run = copy_run(reported[0], tmp_path / "fashion" / "20260101-130000")
    expected = damage(run)
    report = write_report(run, visualize_budget=0)
    page = check_self_contained(report.path.read_text())
    assert set(SECTIONS) <= page.ids
    for problem in expected:
        assert any(p.startswith(problem) for p in report.problems), (problem, report.problems)
        assert problem in page.text
    assert "could not be drawn" not in page.text  # each section handled its own gap


def test_report_cli(reported, cli, tmp_path):
    run = copy_run(reported[0], tmp_path / "out" / "fashion" / "20260101-140000")
    (run / "metrics.json").unlink()
    result = cli("report", run, "--budget", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == f"report written to {run / 'report.html'}"
    assert "Note: metrics.json: missing" in result.stderr
    assert "writing report.html ..." in result.stderr  # long commands say what they are doing
    result = cli("report", "--output-dir", tmp_path / "out", "--budget", "0")  # newest run by default
    assert result.exit_code == 0 and f"using the newest run: {run}" in result.stderr


@pytest.mark.parametrize(("args", "error"), [
    (["nowhere/run"], "Error: run 'nowhere/run' does not exist; pass a run directory such as outputs/<name>/<stamp> (cnnlab runs lists them)"),
    (["--output-dir", "empty"], "Error: no runs under empty/ yet; train one first: cnnlab train configs/fashion.yaml"),
])  # fmt: skip
def test_report_cli_errors(cli, tmp_path, monkeypatch, args, error):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = cli("report", *args)
    assert result.exit_code == 1
    assert result.stderr.strip() == error


def test_help(cli):
    for command in ("report", "runs", "compare"):
        result = cli(command, "--help")
        assert result.exit_code == 0 and "Usage: " in result.stdout
    assert "--no-report" in cli("train", "--help").stdout
    assert "--no-report" in cli("finetune", "--help").stdout


def test_train_writes_the_report_unless_told_not_to(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--output-dir", tmp_path / "a")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "a" / "tiny").iterdir()
    lines = result.stdout.splitlines()
    # The result first: the report takes seconds, and "run saved to" stays last (benchmarks read it).
    assert [line.split(" ")[0] for line in lines[-3:]] == ["test", "report", "run"], lines
    assert lines[-2] == f"report written to {run / 'report.html'}"
    check_self_contained((run / "report.html").read_text())
    result = cli("train", tiny_config, "--output-dir", tmp_path / "b", "--no-report")
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "b" / "tiny").iterdir()
    assert not (run / "report.html").exists() and "report written" not in result.stdout


# ---------------------------------------------------------------- in a real browser

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


def open_in_chromium(browser, html_file: Path, screenshot_dir: Path, sizes=tuple(VIEWPORTS)) -> dict:
    """Open a page in headless Chromium (the session's ``browser`` fixture); what it fetched,
    logged and showed, plus screenshots."""
    seen = {"requests": [], "console_errors": [], "page_errors": []}
    for name in sizes:
        page = browser.new_page(viewport=VIEWPORTS[name])
        page.on("request", lambda r: seen["requests"].append(r.url) if not r.url.startswith("file:") else None)
        page.on("console", lambda m: seen["console_errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: seen["page_errors"].append(str(e)))
        page.goto(html_file.as_uri(), wait_until="load")
        seen[name] = page.evaluate("""() => ({
            images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
            sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            widest_image: Math.max(...[...document.images].map(i => i.getBoundingClientRect().right)),
            layers_cut: (() => { const t = document.querySelector('#layers table, #layers pre');
                                 const box = t && t.parentElement;
                                 return box ? box.scrollWidth - box.clientWidth : null; })(),
        })""")
        img = page.locator("#learned figure img").first
        img.focus()  # a tap: the picture is shown whole over the page
        seen[name]["zoomed"] = page.evaluate(
            "() => { const r = document.activeElement.getBoundingClientRect(); return [r.width, window.innerWidth]; }")
        shot = screenshot_dir / f"report-{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        seen[f"{name}_screenshot"] = shot
        page.close()
    return seen


def test_report_in_headless_chromium(browser, reported, tmp_path):
    _, report = reported
    seen = open_in_chromium(browser, report.path, tmp_path)
    print(f"screenshots: {seen['laptop_screenshot']} {seen['phone_screenshot']}")
    assert seen["requests"] == []  # nothing fetched: every picture is a data: URI
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    for size in ("laptop", "phone"):
        images = seen[size]["images"]
        assert len(images) == 10 and all(ok and w > 0 and h > 0 for ok, w, h in images), images
        assert set(SECTIONS) <= set(seen[size]["sections"])
        assert seen[size]["overflow"] <= 1  # no sideways scrolling of the page (wide tables scroll alone)
    assert seen["phone"]["widest_image"] <= 390  # pictures shrink to the phone's width
    assert seen["laptop"]["layers_cut"] <= 1  # the arithmetic column wraps instead of running off a laptop
    for size in ("laptop", "phone"):  # a tapped picture fills the screen's width (a 64-map grid on a phone)
        width, screen = seen[size]["zoomed"]
        assert abs(width - screen) <= 1, seen[size]["zoomed"]
    assert Image.open(seen["laptop_screenshot"]).height > 2000


def test_browser_check_catches_a_page_that_fetches(browser, reported, tmp_path):
    """The browser test can fail: the same page without its CSP and with a remote image
    makes a request (refused by the sandbox's network, but counted)."""
    html = reported[1].path.read_text()
    start = html.index('<meta http-equiv="Content-Security-Policy"')
    html = html[:start] + html[html.index(">", start) + 1 :]
    html = html.replace("<main>", '<main><img src="http://127.0.0.1:9/remote.png" alt="remote">', 1)
    leaky = tmp_path / "leaky.html"
    leaky.write_text(html)
    seen = open_in_chromium(browser, leaky, tmp_path, sizes=["laptop"])
    assert seen["requests"] and seen["requests"][0] == "http://127.0.0.1:9/remote.png"
    assert any(w == 0 for _, w, _ in seen["laptop"]["images"])
