"""cnnlab explain's interactive pages (issue 26): one offline HTML file each, opened in
headless Chromium (Debian's, driven by Playwright, as the report's test does): the
numbers under the cursor equal cnnlab.explain's NumPy results, the controls recompute
by the size rule, nothing is fetched, nothing is logged, a phone needs no sideways scroll."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from cnnlab.explain.conv import convolve
from cnnlab.explain.matrices import load_matrix
from cnnlab.explain.numbers import fmt

PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 900}
# a learner's own 6x6 matrix and a Sobel filter, at stride 2 and padding 1
MINE = "3 1 4 1 5 9; 2 6 5 3 5 8; 9 7 9 3 2 3; 8 4 6 2 6 4; 3 3 8 3 2 7; 9 5 0 2 8 8"
SOBEL = "1 0 -1; 2 0 -2; 1 0 -1"


class Tags(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def page_state(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="state">(.*?)</script>', html, re.S)[1])


def check_offline(html: str) -> None:
    """Nothing to fetch: a CSP with no default source, scripts and styles only inline
    and only by their hash, no src/href anywhere but data: URIs."""
    tags = Tags(html).found
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'; script-src 'sha256-") and "unsafe" not in csp[0]
    for tag, attrs in tags:
        assert tag not in {"link", "iframe", "object", "embed", "base"}
        for key in ("src", "href"):
            assert key not in attrs or attrs[key].startswith(("data:", "#")), (tag, attrs)
    assert "url(" not in html and "http://" not in html and "https://" not in html


@pytest.fixture
def conv_page(cli, tmp_path) -> Path:
    page = tmp_path / "conv.html"
    result = cli("explain", "conv", "--input", MINE, "--filter", SOBEL, "--stride", "2", "--padding", "1",
                 "--max-panels", "1", "--output", tmp_path / "conv.png", "--html", page)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(f"page: {page}")
    return page


def test_conv_page_is_offline_and_carries_numpy_results(conv_page):
    html = conv_page.read_text(encoding="utf-8")
    check_offline(html)
    state = page_state(html)
    expected = convolve(load_matrix(MINE), load_matrix(SOBEL), 2, 1).out
    assert np.array_equal(np.array(state["numpy"]["maps"][0]), expected) and expected.shape == (3, 3)
    assert state["stride"] == 2 and state["padding"] == 1 and len(state["presets"]) >= 12


def test_lab_page_defaults_to_the_lecture_pipeline(cli, tmp_path):
    result = cli("explain", "lab", "--html", tmp_path / "lab.html", "--filter", "loop", "--filter", "diagonal")
    assert result.exit_code == 0, result.output
    state = page_state((tmp_path / "lab.html").read_text())
    loop, diagonal = (np.array(m) for m in state["numpy"]["maps"])
    assert [fmt(v) for v in loop[0]] == ["-0.11", "1", "-0.11"]
    assert diagonal[4, 1] == pytest.approx(1.0)  # the 9's tail is the '/' stroke
    pooled = np.array(state["numpy"]["pooled"][0])  # ReLU then 2x2 max pool at stride 1: 5x3 -> 4x2
    assert pooled.shape == (4, 2) and [fmt(v) for v in pooled[:, 0]] == ["1", "0.33", "0.33", "0"]
    assert any("stride 1" in name and "pipeline" in name for name in state["presets"])


def test_colour_input_gives_one_map_from_three_slices(cli, tmp_path):
    result = cli("explain", "conv", "--input", "rgb4", "--filter", "rgb3x3", "--bias", "1", "--padding", "same",
                 "--max-panels", "1", "--output", tmp_path / "p.png", "--html", tmp_path / "p.html")
    assert result.exit_code == 0, result.output
    state = page_state((tmp_path / "p.html").read_text())
    assert state["numpy"]["maps"][0][0][0] == 8  # out[0,0] = 2 + 1 + 4 + bias 1, as the text lesson says
    assert state["input"].count("|") == 2 and state["filters"][0]["text"].count("|") == 2
    five = "1 2; 3 4 | 1 2; 3 4 | 1 2; 3 4 | 1 2; 3 4 | 1 2; 3 4"
    result = cli("explain", "relu", "--input", five, "--output", tmp_path / "r.png", "--html", tmp_path / "r.html")
    assert result.exit_code == 2 and "the page draws up to 4" in result.stderr and not (tmp_path / "r.html").exists()


def test_explain_pages_never_start_tensorflow(tmp_path):
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom cnnlab.cli import cli\n"
        f"out = {str(tmp_path)!r}\n"
        "for args in (['explain', 'lab', '--html', out + '/lab.html'],\n"
        "             ['explain', 'relu', '--input', '-1 2; 3 -4', '--output', out + '/r.png', '--html', out + '/r.html'],\n"
        "             ['explain', 'learn-kernel', '--steps', '2', '--html', out + '/k.html'], ['explain', 'network', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", ["lab", "network", "learn-kernel"])
def test_help(cli, command):
    result = cli("explain", command, "--help")
    assert result.exit_code == 0 and f"Usage: cli explain {command}" in result.output


# ---------------------------------------------------------------- in a real browser


class Watched:
    """A page plus everything it fetched or logged."""

    def __init__(self, browser, path: Path, viewport: dict):
        self.requests, self.errors = [], []
        self.page = browser.new_page(viewport=viewport)
        self.page.on("request", lambda r: self.requests.append(r.url) if not r.url.startswith("file:") else None)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri(), wait_until="load")

    def overflow(self) -> int:
        return self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

    def cell(self, kind: str, i: int, j: int, f: int = 0):
        return self.page.locator(f'.grid[data-kind="{kind}"][data-f="{f}"] .cell[data-i="{i}"][data-j="{j}"]')

    def grid_size(self, kind: str, f: int = 0) -> tuple[int, int]:
        g = self.page.locator(f'.grid[data-kind="{kind}"][data-f="{f}"]')
        return int(g.get_attribute("data-rows")), int(g.get_attribute("data-cols"))

    def result(self) -> float:
        return float(self.page.locator("#why .result").get_attribute("data-value"))


def test_hovering_a_cell_shows_the_numpy_sum_and_stride_follows_the_rule(browser, conv_page, tmp_path):
    expected = convolve(load_matrix(MINE), load_matrix(SOBEL), 2, 1)
    seen = Watched(browser, conv_page, LAPTOP)
    page = seen.page
    assert "equal cnnlab.explain's NumPy results" in page.locator("#check").text_content()
    assert seen.grid_size("in") == (8, 8) and seen.grid_size("map") == (3, 3)
    for i in range(3):
        for j in range(3):
            seen.cell("map", i, j).hover()
            assert seen.result() == pytest.approx(expected.out[i, j], abs=1e-9)
            why = page.locator("#why").text_content()
            assert f"out[{i},{j}]" in why and why.rstrip().endswith(fmt(expected.out[i, j]))
            # the receptive field is outlined on the padded input: 9 cells, where the window is
            hot = page.locator('.grid[data-kind="in"] .cell.hot')
            assert hot.count() == 9
            assert hot.first.get_attribute("data-i") == str(2 * i) and hot.first.get_attribute("data-j") == str(2 * j)
    page.screenshot(path=str(tmp_path / "conv-laptop.png"), full_page=True)
    # keyboard: focusing a cell explains it too
    seen.cell("map", 2, 1).focus()
    assert seen.result() == pytest.approx(expected.out[2, 1])
    # stride 2 -> 1 with the keyboard on the slider: OH = (6 + 2*1 - 3)/1 + 1 = 6
    page.focus("#stride")
    page.keyboard.press("ArrowLeft")
    assert seen.grid_size("map") == (6, 6)
    assert "(6 + 2·1 − 3)/1 + 1 = 5 + 1 = 6" in page.locator("#rule").text_content()
    one = convolve(load_matrix(MINE), load_matrix(SOBEL), 1, 1).out
    seen.cell("map", 4, 5).hover()
    assert seen.result() == pytest.approx(one[4, 5])
    # the experiment lives in the address: opening the link again gives stride 1 back
    link = page.url
    assert "#" in link
    page.goto("about:blank")
    page.goto(link)
    assert seen.grid_size("map") == (6, 6) and page.locator("#stride").input_value() == "1"
    # an impossible combination is explained, not drawn
    page.fill("#ksize", "9")
    page.dispatch_event("#ksize", "change")
    page.select_option("#padmode", "valid")
    assert "Not drawn: The 9×9 filter is larger than the 6×6 padded input" in page.locator("#rule").text_content()
    assert page.locator('.grid[data-kind="map"]').count() == 0
    assert seen.requests == [] and seen.errors == []


def test_every_preset_draws_on_a_phone_without_sideways_scroll(browser, cli, tmp_path):
    page_file = tmp_path / "lab.html"
    assert cli("explain", "lab", "--html", page_file).exit_code == 0
    seen = Watched(browser, page_file, PHONE)
    page = seen.page
    assert seen.overflow() <= 0
    page.screenshot(path=str(tmp_path / "lab-phone.png"), full_page=True)
    presets = page.eval_on_selector_all("#preset option", "os => os.map(o => o.value).filter(v => v)")
    assert len(presets) >= 12
    for name in presets:
        page.select_option("#preset", name)
        assert "Not drawn" not in page.locator("#rule").text_content(), name
        assert page.locator(".grid").count() >= 2 and seen.overflow() <= 0, name
    # several filters -> several maps, each one pooled after ReLU
    page.select_option("#preset", next(n for n in presets if "three filters" in n))
    assert page.locator('.grid[data-kind="map"]').count() == 3 == page.locator('.grid[data-kind="pool"]').count()
    assert "the layer's output is 5×3×3 (depth = number of filters), with 3·3·1·3 + 3 = 30" in page.locator("#rule").text_content()
    seen.cell("pool", 0, 0, f=0).click()
    assert "max of {0, 1, 0, 0.11} = 1" in page.locator("#why").text_content()
    # three channels: each slice makes its own sum, the sums and the bias make one map
    page.select_option("#preset", next(n for n in presets if n.startswith("3 channels")))
    assert page.locator('.grid[data-kind="in"]').count() == 3 == page.locator('.grid[data-kind="k"]').count()
    seen.cell("map", 0, 0).hover()
    assert seen.result() == 8 and "channels together: 2 + 1 + 4 = 7 + bias 1" in page.locator("#why").text_content()
    assert page.locator('.grid[data-kind="in"] .cell.hot').count() == 27  # the window on every channel
    # editing the matrix recomputes; a typo is explained
    page.fill("#input", "1 2; x 4")
    assert "'x' is not a number" in page.locator("#rule").text_content()
    assert seen.requests == [] and seen.errors == []


# ---------------------------------------------------------------- the learner's own model


@pytest.fixture(scope="module")
def network_html(fashion_run, tmp_path_factory) -> Path:
    """The network page of the real textbook run (into a copy: the shared run stays untouched)."""
    from cnnlab.inspect.network_page import write_network_page
    from cnnlab.runs import load_run

    return write_network_page(load_run(str(fashion_run)), tmp_path_factory.mktemp("network") / "network.html", index=3)


def test_network_page_of_a_real_textbook_run(network_html):
    html = network_html.read_text(encoding="utf-8")
    check_offline(html)
    state = page_state(html)
    maps = {layer["path"]: (layer["shape"][2], layer["shown"], len(layer["pngs"])) for layer in state["layers"]}
    assert maps["conv2d"] == (32, 32, 32) and maps["conv2d_1"] == (64, 64, 64)  # one map per filter, all shown
    assert maps["max_pooling2d"] == (32, 32, 32) and not state["dense_only"]
    assert len(state["probabilities"]) == 10 and sum(state["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert state["image"]["caption"].startswith("test #3: ")


def test_network_page_caps_maps_and_says_so(cli, fashion_run, tmp_path):
    page = tmp_path / "capped.html"
    result = cli("explain", "network", str(fashion_run), "--max-maps", "5", "--html", page)
    assert result.exit_code == 0, result.output
    state = page_state(page.read_text())
    assert {layer["path"]: layer["shown"] for layer in state["layers"]}["conv2d_1"] == 5
    assert result.stdout.strip() == f"page: {page}  (open it in a browser; nothing is fetched)"


def test_many_layers_are_capped_evenly_keeping_the_last():
    from cnnlab.backend import keras
    from cnnlab.inspect.network_page import pick_layers

    k = keras()
    layers = [k.Input((16, 16, 1))] + [k.layers.Conv2D(2, 3, padding="same", name=f"c{n}") for n in range(20)]
    chosen, total = pick_layers(k.Sequential(layers), max_layers=6)
    assert total == 20 and len(chosen) == 6 and chosen[0].path == "c0" and chosen[-1].path == "c19"


@pytest.mark.slow  # trains a small dense network
def test_network_page_of_a_dense_network_says_it_has_no_maps(cli, tmp_path, pattern_npz):
    from tests.conftest import write_config

    config = write_config(tmp_path / "mlp.yaml", data={"path": str(pattern_npz)}, model={"layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 8, "activation": "relu"},
        {"type": "Dense", "units": 3, "activation": "softmax"}]}, train={"epochs": 1, "verbose": 0, "tensorboard": False})
    assert cli("train", config, "--output-dir", tmp_path / "out", "--no-report").exit_code == 0
    (run,) = (tmp_path / "out" / "tiny").iterdir()
    assert cli("explain", "network", run).exit_code == 0
    from cnnlab.inspect.network_page import NETWORK_PAGE

    state = page_state((run / NETWORK_PAGE).read_text())  # the run's own page, beside report.html
    assert state["dense_only"] and state["layers"] == [] and len(state["probabilities"]) == 3
    assert state["first_dense"] == "dense: 784 inputs × 8 units + 8 biases = 6,280 parameters"


def test_network_page_in_the_browser(browser, network_html, tmp_path):
    for viewport, name in ((LAPTOP, "laptop"), (PHONE, "phone")):
        seen = Watched(browser, network_html, viewport)
        page = seen.page
        counts = page.eval_on_selector_all(".maps", "ms => ms.map(m => m.children.length)")
        assert counts[1:] == [32, 32, 64, 64], counts  # after the rescaled input: conv2d, pool, conv2d_1, pool
        assert "Class probabilities" in page.locator("#probabilities").text_content()
        page.locator('.maps img[alt="conv2d_1 map 5"]').click()
        detail = page.locator("#detail").text_content()
        assert "A 3×3×32 filter" in detail
        worst = float(re.search(r"largest difference from Keras's map is ([0-9.]+e[-+]?[0-9]+)", detail)[1])
        assert worst < 1e-4  # the page's own convolution equals Keras's map
        canvas = page.locator("#detail canvas").last
        canvas.focus()
        page.keyboard.press("ArrowRight")
        readout = page.locator("#detail .readout").text_content()
        assert readout.startswith("map 5 [0,1] = ") and "channel" in readout and "after relu" in readout
        page.screenshot(path=str(tmp_path / f"network-{name}.png"), full_page=True)
        assert seen.overflow() <= 0 and seen.requests == [] and seen.errors == []


# ---------------------------------------------------------------- learn a kernel


def test_gradient_descent_recovers_the_vertical_edge_filter(cli):
    from cnnlab.explain.learn import learn, loss_and_gradient

    r = learn(load_matrix("vertical"))
    assert r.losses[0] > 1 and r.losses[-1] < 1e-4 and np.abs(r.kernels[-1] - r.true).max() < 0.01
    # the analytic gradient is the loss's slope (central differences)
    k = np.random.default_rng(1).normal(size=(3, 3))
    _, grad = loss_and_gradient(r.x, r.y, k)
    bump = np.zeros_like(k)
    bump[1, 2] = 1e-6
    slope = (loss_and_gradient(r.x, r.y, k + bump)[0] - loss_and_gradient(r.x, r.y, k - bump)[0]) / 2e-6
    assert grad[1, 2] == pytest.approx(slope, rel=1e-5)
    out = cli("explain", "learn-kernel", "--steps", "5").stdout
    assert "step   5: loss" in out and "(not yet: more --steps or a larger --lr)" in out


def test_learn_kernel_page_steps_like_numpy(browser, cli, tmp_path):
    page_file = tmp_path / "learn.html"
    assert cli("explain", "learn-kernel", "--html", page_file).exit_code == 0
    html = page_file.read_text()
    check_offline(html)
    state = page_state(html)
    seen = Watched(browser, page_file, PHONE)
    page = seen.page
    for _ in range(3):
        page.click("#step")
    assert "equal to NumPy's step 3" in page.locator("#status").text_content()
    shown = [float(c.get_attribute("data-value")) for c in page.locator('.grid[data-kind="k"] .cell').all()]
    assert shown == pytest.approx(np.ravel(state["kernels"][3]), abs=1e-12)
    page.click("#run10")
    assert page.locator("#losses tr").count() == 1 + 14  # header, steps 0..13
    page.screenshot(path=str(tmp_path / "learn-phone.png"), full_page=True)
    assert seen.overflow() <= 0 and seen.requests == [] and seen.errors == []


def test_page_state_cannot_close_its_script_block():
    from cnnlab.explain.page import render

    evil = "</script><script>alert(1)</script><img src=http://example.com/x.png>"
    html = render(evil, "<main></main>", {"input": evil}, ["lab.js"], ["lab.css"])
    assert html.count("</script>") == 2 and "<img" not in html and "<script>alert" not in html
    assert page_state(html)["input"] == evil
    check_offline(html.replace("http://example.com/x.png", ""))  # the escaped copy in <title> is text, not a fetch


def test_network_page_escapes_names_from_the_run():
    from cnnlab.inspect.network_page import network_page

    evil = "</script><script>alert(1)</script><img src=x>"
    state = {"model": evil, "run": evil, "image": {"caption": evil}, "classes": [evil], "layers": []}
    html = network_page(state)
    assert html.count("</script>") == 2 and "<img" not in html and "<script>alert" not in html
    assert page_state(html)["classes"] == [evil]
