import base64
import re

import pytest

from vanishing.errors import VanishingError
from vanishing.experiments.run import RunResult
from vanishing.report import html, plots

_EXTERNAL = re.compile(r"https?://|src=\"//|href=\"//|url\(", re.I)


@pytest.fixture(scope="module")
def page(result):
    return html.render_report(result)


def test_report_fetches_nothing(page):
    assert not _EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page


def test_report_embeds_every_plot_as_png(page):
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(plots.PLOTS)
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)


def test_report_has_config_diagnosis_summary_and_command(result, page):
    assert "cause → effect → reason → fix" in page.lower() or "Cause" in page
    assert "<h2>Configuration</h2>" in page and "<h2>Summary</h2>" in page
    assert result.command in page
    assert result.config["activation"] in page and result.config["init"] in page


def test_a_missing_quantity_is_explained_not_fatal(result):
    r = RunResult.from_dict(result.to_dict())
    del r.trace.data["update_ratio"]
    page = html.render_report(r)
    assert "needs &#x27;update_ratio&#x27;" in page
    assert len(re.findall(r"data:image/png", page)) == len(plots.PLOTS) - 1


def test_compare_page(result, relu_result):
    page = html.render_compare(result, relu_result)
    assert not _EXTERNAL.search(page)
    assert "class=diff" in page  # activation and init differ
    assert result.command in page and relu_result.command in page


def test_page_titles_name_the_page(result, relu_result):
    import re

    def title(page: str) -> str:
        return re.search(r"<title>(.*?)</title>", page).group(1)

    compare = title(html.render_compare(result, relu_result))
    for r in (result, relu_result):
        assert f"{r.config['activation']} + {r.config['init']}".replace("'", "&#x27;") in compare
    assert title(html.render_compare(result, relu_result, title="vanishing demo: a vs b")) == "vanishing demo: a vs b"
    assert title(html.render_report(result)).startswith("vanishing report: ")


def test_write_report(result, tmp_path):
    path = html.write_report(result, tmp_path / "sub" / "r.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_report_to_an_unwritable_place(result, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(VanishingError, match="cannot write report"):
        html.write_report(result, tmp_path / "file" / "r.html")


def test_heatmaps_in_compare_share_the_colour_scale(result, relu_result):
    lo_hi = plots.log10_range(result, relu_result)
    a = plots.heatmap(result, vrange=lo_hi).axes[0].get_images()[0].get_clim()
    b = plots.heatmap(relu_result, vrange=lo_hi).axes[0].get_images()[0].get_clim()
    assert a == b == lo_hi


def test_diagnosis_findings_are_rendered_with_layer_numbers_and_each_fix_once(result, monkeypatch):
    import sys
    import types

    from vanishing.diagnose import Diagnosis, Finding, Fix

    names = result.layers
    fx = Fix("relu_he", "relu + he_normal")
    findings = [Finding("vanishing_gradients", "critical", [names[0], names[1], names[3]], {}, "the cause",
                        "the effect", "the reason", fx.text, [fx]),
                Finding("slow_early_layers", "warning", [], {}, "c2", "e2", "r2", fx.text, [fx])]
    fake = types.ModuleType("vanishing.diagnose")
    fake.diagnose = lambda r, config=None: Diagnosis(findings, names, {}, ["vanishing_gradients"])
    monkeypatch.setitem(sys.modules, "vanishing.diagnose", fake)
    text = html.diagnosis_sections(result)
    assert "verdict: vanishing_gradients" in text and "critical" in text
    for part in ("the cause", "the effect", "the reason", "relu_he"):
        assert part in text
    assert "layers 1–2, 4" in text
    assert text.count("relu + he_normal") == 1 and text.count("fix 1 below") == 2
    assert text.count("<ol>") == 1 and text.count("<li>") == 1


def test_diagnosis_falls_back_to_the_summary(result, monkeypatch):
    import sys
    import types

    from vanishing.errors import VanishingError

    def unreadable(*args, **kwargs):
        raise VanishingError("the rules cannot read this trace")

    monkeypatch.setitem(sys.modules, "vanishing.diagnose", types.SimpleNamespace(diagnose=unreadable))
    text = html.diagnosis_sections(result)
    assert "from the run summary" in text
    assert f"{result.summary['vanishing_orders']:+.2f}" in text and "weight-gradient orders at step 0" in text
