"""The results tables of README.md and docs/ are what `python -m tools.results` makes from the committed metrics."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import REPO
from tools import results

MODEL_PAGES = {  # page: (its results table, its contact sheet)
    "tagger.md": ("tagger", "contact_sheet.png"),
    "posenet.md": ("posenet", "pose_stick.png"),
    "dcgan.md": ("dcgan", "dcgan_samples.png"),
    "stylegan.md": ("stylegan", "stylegan_samples.png"),
    "sr.md": ("sr", "sr_samples.png"),
    "pose2sketch.md": ("pose2sketch", "pose2sketch_samples.png"),
}


def test_every_table_matches_the_committed_metrics():
    stale = results.stale(REPO)
    assert not stale, (
        "these pages' results tables differ from what metrics/*.json give: "
        + ", ".join(str(p.relative_to(REPO)) for p in stale)
        + "; run `python -m tools.results --write` and commit them"
    )


def test_the_readme_has_the_summary_table_once():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert results.keys_in(text) == ["summary"]


@pytest.mark.parametrize("page", sorted(MODEL_PAGES))
def test_each_model_page_has_its_table_and_contact_sheet(page):
    key, image = MODEL_PAGES[page]
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert key in results.keys_in(text)
    assert f"]({image})" in text


def test_every_marker_names_a_known_table():
    for page in results.pages(REPO):
        for key in results.keys_in(page.read_text(encoding="utf-8")):
            assert key in results.TABLES, f"{page}: unknown results table {key!r}"


def test_every_table_is_on_a_page_under_a_key_a_marker_can_name():
    """A table whose key the marker cannot match (an upper-case letter) or that no page carries is never written."""
    used = {k for page in results.pages(REPO) for k in results.keys_in(page.read_text(encoding="utf-8"))}
    assert [k for k in results.TABLES if not re.fullmatch(r"[a-z0-9_-]+", k)] == []
    assert sorted(set(results.TABLES) - used) == []


def test_a_changed_figure_makes_the_table_stale(tmp_path):
    """The check reads the metrics: a figure that moves shows up in the README's table."""
    metrics = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", metrics)
    doc = json.loads((metrics / "tagger.json").read_text())
    chosen = doc["tagger"]["chosen"]
    doc["tagger"][chosen]["macro_f1"] = 0.5
    (metrics / "tagger.json").write_text(json.dumps(doc))
    stale = results.stale(REPO, metrics)
    assert REPO / "README.md" in stale
    assert "| 0.500 [" in stale[REPO / "README.md"] and "**missed**" in stale[REPO / "README.md"]


def test_a_missing_figure_is_a_dash_not_a_crash(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "sr.json").write_text(json.dumps({"sr": {"sr": {"psnr_db": 20.0}}}))
    m = results.Metrics(metrics)
    for key, make in results.TABLES.items():
        assert "\n".join(make(m)), key
    assert results.DASH in "\n".join(results.summary(m))


def test_the_command_checks_and_writes(tmp_path, monkeypatch, capsys):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    shutil.copytree(REPO / "metrics", root / "metrics")
    (root / "README.md").write_text(
        "# x\n\n<!-- results:summary:begin (python -m tools.results --write) -->\nold\n<!-- results:summary:end -->\n"
    )
    monkeypatch.setattr(results, "REPO", root)
    assert results.main([]) == 1
    assert "README.md differs" in capsys.readouterr().err
    assert results.main(["--write"]) == 0
    assert results.main([]) == 0
    assert "| `anime-tagger` |" in (root / "README.md").read_text()


def test_the_seed_table_gives_mean_and_sample_std_and_each_runs_lowest_group(tmp_path, monkeypatch):
    runs = []
    for seed, (fd, glasses, smile) in zip((1, 2, 3), ((2.0, 0.88, 0.95), (4.0, 0.96, 0.90), (3.0, 0.93, 0.92))):
        run = {"seed": seed, "fd_tagger": fd, "val_fd_tagger": fd, "cond_vs_tagger/glasses": glasses}
        run |= {"cond_vs_tagger/smile": smile, "val_cond_vs_tagger/glasses": glasses, "val_cond_vs_tagger/smile": smile}
        runs.append(run)
    spread = {"fd_tagger": {"mean": 3.0, "std": 1.0}, "val_fd_tagger": {"mean": 3.0, "std": 1.0}}
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps({"stylegan": {"device": "cpu", "runs": runs, "spread": spread}}))
    monkeypatch.setattr(results, "SEEDS", {"stylegan": seeds, "dcgan": seeds})
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "dcgan.json").write_text(
        json.dumps({"dcgan": {"pca_gaussian": {"fd_tagger": 6.0, "val_fd_tagger": 6.0}}})
    )
    rows = results.generator_seeds(results.Metrics(metrics), "stylegan")
    test_row = next(r for r in rows if r.startswith("| test"))
    assert "3.000 ± 1.000" in test_row and "0.50× (baseline 6.000)" in test_row
    # the runs' lowest groups: glasses 0.88, smile 0.90, smile 0.92 -> mean 0.90, sample std 0.02
    assert "0.900 ± 0.020 (glasses, smile)" in test_row
    assert results.generator_seeds(results.Metrics(metrics), "dcgan")[2:] == []  # no such family: an empty table


def test_the_auto_tag_table_before_and_after_a_seed(tmp_path):
    """experiments/auto_tags.py writes its result once the tagger is scored (no DCGAN seed yet) and after each seed:
    the table shows what there is, a dash for what is not done, and the ratio as mean ± sample std."""
    head = {
        "profile": "cpu",
        "config": {"seeds": [1, 2]},
        "images_by_source": {"generated": 10, "generated:ink": 5},
        "tagger": {
            "auto_tags": {"min_accuracy": 0.9},
            "on_hidden": {"macro_f1": 0.8, "trusted_share": 0.5, "trusted_accuracy": 0.95},
        },
    }
    empty = {"cond_accuracy_ratio": None, "val_cond_accuracy_ratio": None, "fd_tagger_change": None}
    path = tmp_path / "auto_tags.json"
    path.write_text(json.dumps({**head, **empty, "seeds_done": 0, "runs": {"auto": {}, "truth": {}}}))
    rows = results.auto_tags(None, path)
    assert any("| 0.800 |" in r for r in rows) and any("0.500, 0.950" in r for r in rows)
    dash = f"{results.DASH} ± {results.DASH}"
    assert any(r.startswith("| `cond_accuracy` ratio") and dash in r for r in rows)
    assert rows[-1].startswith("Profile `cpu`, DCGAN seeds  (0 of 2 done)")
    run = {"cond_accuracy": 0.9, "val_cond_accuracy": 0.8, "fd_tagger": 2.0}
    runs = {"auto": {"1": run, "2": {**run, "cond_accuracy": 0.7}}, "truth": {"1": run, "2": run}}
    ratio = {"mean": 0.888, "std": 0.157, "runs": [1.0, 0.777]}
    doc = {**head, "cond_accuracy_ratio": ratio, "val_cond_accuracy_ratio": ratio, "fd_tagger_change": ratio}
    path.write_text(json.dumps({**doc, "seeds_done": 2, "runs": runs}))
    rows = results.auto_tags(None, path)
    assert any("0.800 ± 0.141" in r for r in rows if r.startswith("| DCGAN on the auto-tags"))
    assert any("0.888 ± 0.157" in r for r in rows if r.startswith("| `cond_accuracy` ratio"))


def test_the_auto_tag_floor_table_from_the_calibration(tmp_path):
    """The calibration's rows: the borrowed floors first, then each N with validation [test] as mean ± std; the
    sentence names the first N whose validation mean reaches the bar. Without a calibration: an empty table."""
    path = tmp_path / "auto_tags.json"
    path.write_text(json.dumps({"config": {"calibration": {"draws": 5}}, "tagger": {}}))
    assert results.auto_tag_floors(None, path)[2:] == []

    def entry(n, acc, share, at_bar):
        e = {"labels": n}
        for prefix in ("val_", ""):
            e[f"{prefix}trusted_accuracy"] = None if acc is None else {"mean": acc, "std": 0.02, "runs": []}
            e[f"{prefix}trusted_share"] = {"mean": share, "std": 0.1, "runs": []}
            e[f"{prefix}draws_at_bar"] = at_bar
        e["trusted_accuracy"] = None if acc is None else {"mean": acc - 0.01, "std": 0.03, "runs": []}
        return e

    calib = {
        "min_accuracy": 0.9,
        "hidden_pool_images": 1600,
        "hidden_val_images": 200,
        "hidden_test_images": 190,
        "labels_to_reach_bar": 50,
        "steady_share": 0.95,
        "labels_for_steady_bar": None,
        "by_labels": [entry(0, 0.869, 0.979, 0.0), entry(10, None, 0.0, 1.0), entry(50, 0.91, 0.6, 0.7)],
    }
    path.write_text(json.dumps({"config": {"calibration": {"draws": 5}}, "tagger": {"calibration": calib}}))
    rows = results.auto_tag_floors(None, path)
    assert rows[2].startswith("| 0 (the borrowed floors) | 0.869 ± 0.020 [0.859 ± 0.030] | 0.979 ± 0.100 [0.979")
    assert rows[3].startswith(f"| 10 | {results.DASH} [{results.DASH}] |")
    assert rows[4].startswith("| 50 | 0.910 ± 0.020 [0.900 ± 0.030] | 0.600 ± 0.100 [0.600 ± 0.100] | 0.70 [0.70] |")
    assert "on validation first reaches it at 50 labels" in rows[-1] and "5 draws per N" in rows[-1]
    assert "95% of the draws do from none of these counts labels on" in rows[-1]


def test_retrieval_meets_its_bar_by_either_figure(tmp_path):
    """Exact top-1 or the pose-level one: the headline row shows the better of the two, names both, and counts the
    target met when either clears 0.9; posenet's page gains the pose-level rows."""
    from core.headline import TARGETS, summary

    metrics = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", metrics)
    doc = json.loads((metrics / "pose.json").read_text())
    posenet = doc["pose"]["posenet"]
    posenet.update({"retrieval_top1": 0.82, "retrieval_pose_top1": 0.95, "val_retrieval_top1": 0.88})
    posenet.update(
        {"val_retrieval_pose_top1": 0.97, "retrieval_pose_error_px": 1.2, "val_retrieval_pose_error_px": 1.1}
    )
    (metrics / "pose.json").write_text(json.dumps(doc))
    m = results.Metrics(metrics)
    (target,) = [t for t in TARGETS if t.key == "posenet_retrieval_top1"]
    assert target.value(m) == (0.95, 0.97, "(exact 0.820, pose-level 0.950)") and target.met(m)
    assert "posenet_retrieval_top1" not in summary(m)["targets_missed"]
    assert "| `retrieval_pose_top1` (the reference is in the query's pose) | 0.970 | 0.950 |" in "\n".join(
        results.posenet(m)
    )
    posenet["retrieval_pose_top1"] = 0.85  # neither clears the bar
    (metrics / "pose.json").write_text(json.dumps(doc))
    assert not target.met(results.Metrics(metrics))


def test_the_transfer_sentence_gives_kid_with_its_interval_and_the_floor(tmp_path):
    """A record made since the transfer is scored by KID: the sentence names both models' KID with their bootstrap
    intervals, on both splits, and the floor; a record from before keeps its FD sentence."""
    metrics = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", metrics)
    doc = json.loads((metrics / "dcgan.json").read_text())
    d = doc["dcgan"]
    for i, section in enumerate(("transfer", "transfer_scratch", "transfer_floor")):
        for p in ("", "val_"):
            d.setdefault(section, {}).update(
                {f"{p}kid_tagger": 0.01 * (i + 1), f"{p}kid_tagger_low": 0.005, f"{p}kid_tagger_high": 0.02 + i}
            )
        d[section].update({"kid_generated": 1000, "kid_real": 83, "val_kid_real": 79})
    (metrics / "dcgan.json").write_text(json.dumps(doc))
    text = "\n".join(results.dcgan(results.Metrics(metrics)))
    assert "`kid_tagger` of 1,000 generated images against the tag's 83 test [79 validation] images" in text
    assert "test 0.0100 (0.0050 to 0.0200) against 0.0200 (0.0050 to 1.0200)" in text
    assert (
        "the floor (1,000 of the tag's training images in place of generated ones) test 0.0300 (0.0050 to 2.0200)"
        in text
    )
    assert "`fd_tagger` 6" not in text.split("Transfer to")[1]
    committed = "\n".join(results.dcgan(results.Metrics(REPO / "metrics")))
    assert "Transfer to" in committed and ("kid_generated" in (REPO / "metrics" / "dcgan.json").read_text()
                                           or "`fd_tagger`" in committed.split("Transfer to")[1])  # fmt: skip


def test_the_gpu_table_uses_the_profiles_own_step_time_where_it_was_timed(tmp_path, monkeypatch):
    """A size timed by `bench/generator_step.py --profile gpu` gives its row the bf16 rate (what `amp: native` runs on
    CUDA) times the profile's steps, with fp32 beside it; a size not timed falls back to the H200 figure or none."""
    doc = {"machine": "H100", "contestants": {"dcgan": {"seconds_per_step": 0.05},
           "dcgan_bf16": {"seconds_per_step": 0.06}, "stylegan": {"seconds_per_step": 0.1},
           "stylegan_bf16": {"seconds_per_step": 0.12}}}  # fmt: skip
    (tmp_path / "generator-step-gpu-128-H100.json").write_text(json.dumps(doc))
    monkeypatch.setattr(results, "PROFILE_STEP", tmp_path)
    rows = {r.split(" | ")[0].lstrip("| "): r for r in results.gpu_run(results.Metrics(REPO / "metrics"))}
    dcgan, stylegan = rows["`anime-dcgan` 128 px"], rows["`anime-stylegan` 128 px"]
    assert "H100: 60.0 ms a step at 128 px" in dcgan and "fp32 50.0 ms" in dcgan
    assert "30 min 0 s (fp32: 25 min 0 s)" in dcgan  # 30,000 steps
    assert "H100: 120.0 ms" in stylegan and "100 min 0 s (fp32: 83 min 20 s)" in stylegan  # 50,000 steps
    assert "H100" not in rows["`anime-stylegan` 64 px"] and "none" in rows["`anime-stylegan` 64 px"]


def test_the_ruler_check_table_gives_both_spaces_and_the_orders_each_keeps(tmp_path):
    from experiments.ruler_check import FIGURES, verdicts

    def figs(d):
        return {f"val_{f}": (d if k in ("fd", "kid") else 1 / (1 + d)) for n in FIGURES.values() for k, f in n.items()}

    models = {"floor": figs(0.1), "final": figs(1.0), "step_500": figs(3.0), "pca_gaussian": figs(2.0)}
    models["pca_gaussian"]["components"] = 16
    doc = {"models": models, "steps": 4500, "images": 800, "profile": "cpu", "machine": "AVX2-AMD", "seed": 1234}
    doc.update(verdicts(models, ["step_500"]))
    (tmp_path / "r.json").write_text(json.dumps(doc))
    lines = results.ruler_check(results.Metrics(REPO / "metrics"), tmp_path / "r.json")
    assert lines[0].count("|") == 10 and "`fd_ssl`" in lines[0]
    assert any(r.startswith("| DCGAN, step 500 of the same run | 3.000") for r in lines)
    assert any(r.startswith("| PCA-Gaussian (16 components) | 2.000") for r in lines)
    assert "tagger: `fd_tagger` keeps every one; so does every other figure; ssl: `fd_ssl` keeps every one" in lines[-1]
    assert "none." in lines[-1]
    models["step_500"] = figs(0.5)  # the early step ahead of the final one, in both spaces
    doc.update(verdicts(models, ["step_500"]))
    (tmp_path / "r.json").write_text(json.dumps(doc))
    last = results.ruler_check(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[-1]
    assert "tagger: `fd_tagger` breaks one; fails `fd_tagger`: final < step_500; `kid_tagger`: final < step_500" in last


def test_the_ruler_variants_table_has_a_row_per_ruler_by_its_epochs(tmp_path):
    from experiments.ruler_check import FIGURES, verdicts

    def figs(d):
        return {f"val_{f}": (d if k in ("fd", "kid") else 1 / (1 + d)) for n in FIGURES.values() for k, f in n.items()}

    for epochs, early in ((10, 3.0), (3, 0.5)):  # the 3-epoch ruler ranks the early step ahead of the final one
        models = {"floor": figs(0.1), "final": figs(1.0), "step_500": figs(early), "pca_gaussian": figs(2.0)}
        doc = {"models": models, "ruler": {"loss": 3.5, "pair_found": 0.4, "epochs_done": epochs}}
        doc.update(verdicts(models, ["step_500"]))
        (tmp_path / f"ruler_check-cpu-AVX2-AMD-e{epochs}.json").write_text(json.dumps(doc))
    rows = results.ruler_variants(results.Metrics(REPO / "metrics"), tmp_path)[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| 3", "| 10"]  # by epochs, not by name
    assert rows[0].endswith("| no: final < step_500 | `kid_ssl`: final < step_500; `precision_ssl`: final < step_500; "
                            "`recall_ssl`: final < step_500 |")  # fmt: skip
    assert rows[1].endswith("| yes | none |")
    assert "| 0.100 | 1.000 | 0.500 | 2.000 |" in rows[0]


def test_the_retrieval_rerank_table_puts_each_k_in_a_column_and_the_choice_in_bold(tmp_path):
    from experiments.retrieval_rerank import chosen

    def row(k, weight, joints, at_test, at_val):
        figures = {"val_retrieval_top1": at_val, "val_retrieval_pose_top1": at_val, "val_retrieval_candidates": 600}
        figures.update({"val_retrieval_pose_error_px": 1.0, "val_retrieval_candidates_at_test_size": 1200})
        figures.update({"val_retrieval_top1_at_test_size": at_test, "val_retrieval_pose_top1_at_test_size": at_test})
        return {"k": k, "weight": weight, "joints": joints, **figures, "val_retrieval_pose_error_px_at_test_size": 0.5}

    rows = [row(1, 0.0, None, 0.8, 0.9), row(2, 1.0, "rendered", 0.85, 0.92), row(5, 1.0, "rendered", 0.95, 0.97)]
    settings = {"k": [2, 5], "weight": [1.0], "joints": ["rendered"]}
    doc = {"profile": "cpu", "seed": 1, "rows": rows, "queries": 600, "distractors": 600, "settings": settings}
    doc["chosen"] = chosen(rows)
    (tmp_path / "r.json").write_text(json.dumps(doc))
    lines = results.retrieval_rerank(results.Metrics(REPO / "metrics"), tmp_path / "r.json")
    assert lines[0] == "| projections' joints | weight | k 2 | k 5 |"
    assert lines[2] == "| rendered | 1 | 0.850 (0.920) | **0.950 (0.970)** |"
    assert (
        "Chosen: k 5, weight 1, rendered joints" in lines[-1] and "(k 1): pose-level top-1 0.800 (0.900)" in lines[-1]
    )


def test_a_suite_run_without_setup_has_no_setup_row(tmp_path):
    doc = {"commit": "abc1234", "machine_kind": "AVX2-AMD", "cores": 2, "date": "2026-11-28", "workers": 2,
           "setup_seconds": None, "test_seconds": 1800, "summary": {"passed": 3, "skipped": 1},
           "skipped_note": "one skip", "slowest": [{"test": "t::a", "phase": "call", "seconds": 90.0}]}  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(doc))
    lines = results.make_test_fresh(results.Metrics(REPO / "metrics"), tmp_path / "r.json")
    assert not any("setup" in line for line in lines)
    assert lines[2] == "| `make test`: 3 passed, 1 skipped | 1,800 | 30 min 0 s |"
    doc["setup_seconds"] = 200
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert (
        "setup (`make .venv/.installed`)"
        in results.make_test_fresh(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[2]
    )
    doc["what"] = "git clone, then `make setup` (both venvs) and `make test`"  # bench/make_test.py's runs
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert "setup (`make setup`)" in results.make_test_fresh(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[2]


def test_a_suite_run_with_a_timeline_says_where_the_cores_stood_idle(tmp_path):
    doc = {"commit": "abc1234", "machine_kind": "AVX2-AMD", "cores": 2, "date": "2026-11-28", "workers": 2,
           "setup_seconds": 90, "test_seconds": 1000, "summary": {"passed": 3}, "skipped_note": "nothing skipped",
           "slowest": [], "idle_core_seconds": 200.0, "tail_seconds": 30.0,
           "idle_by_test": [{"test": "t::a", "idle_core_seconds": 120.0}, {"test": "t::b", "idle_core_seconds": 5.0}]}  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(doc))
    caption = results.make_test_fresh(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[-1]
    assert "idle 3 min 20 s while tests ran (10% of 2 cores" in caption and "done 30 s before the last" in caption
    assert caption.endswith("most first: `t::a` 2 min 0 s, `t::b` 5 s.")


def test_the_setup_table_gives_both_commits_and_whether_their_venvs_agree(tmp_path):
    doc = {"commits": {"baseline": "a" * 40, "head": "b" * 40}, "seconds": {"baseline": 236.3, "head": 39.0},
           "commands": {"baseline": "make -j2 .venv/.installed labelstudio-venv", "head": "make setup"},
           "ratio": 0.165, "same_packages": {".venv": True, ".venv-labelstudio": False},
           "packages": {".venv": 285, ".venv-labelstudio": 159}, "machine_kind": "AVX2-AMD", "cores": 2,
           "date": "2026-11-29"}  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(doc))
    lines = results.venv_setup(results.Metrics(REPO / "metrics"), tmp_path / "r.json")
    assert (
        lines[2]
        == "| `aaaaaaa` (baseline) | `make -j2 .venv/.installed labelstudio-venv` | 236.3 | 3 min 56 s | "
        + results.DASH
        + " |"
    )
    doc["import_seconds"] = {"baseline": 4.5, "head": 4.25}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    lines = results.venv_setup(results.Metrics(REPO / "metrics"), tmp_path / "r.json")
    assert lines[3] == "| `bbbbbbb` (head) | `make setup` | 39.0 | 39 s | 4.25 |"
    assert "HEAD ÷ baseline: 0.17" in lines[-1] and "both commits' venvs: `.venv` (" in lines[-1]


def test_the_judge_size_table_gives_each_recipe_and_where_its_thresholds_were_chosen(tmp_path):
    groups = ["hair_color", "hair_length", "eye_color", "glasses", "smile", "blush"]

    def row(spec, cal, f1_32, ceiling, dcgan=None):
        by = {g: f1_32 for g in groups}
        r = {"spec": spec, "calibrated_at": cal, "val_macro_f1_32px": f1_32, "val_macro_f1_64px": 0.98,
             "val_macro_f1_by_group_32px": by, "val_macro_f1_by_group_64px": by, "ceiling": ceiling,
             "ceiling_lowest": "smile=yes", "ceiling_by_tag": {"smile=yes": 0.4}}  # fmt: skip
        return {**r, **({"dcgan_val": dcgan} if dcgan else {})}

    judges = {
        "64@64": row({"shard": 64, "calibrate": [64]}, 64, 0.9, 0.69, {"val_control_success": 0.42, "val_lowest": 0.2}),
        "mixed_50@32": row({"shard": 64, "low_res": 0.5, "calibrate": [32]}, 32, 0.95, 0.82),
    }
    (tmp_path / "j.json").write_text(json.dumps({"profile": "cpu", "seed": 7, "low_size": 32, "judges": judges}))
    lines = results.judge_size(results.Metrics(REPO / "metrics"), tmp_path / "j.json")
    assert lines[2].startswith("| `64` | 64 px shard | 64 px | 0.900 | 0.980 | 0.900 / 0.900 / 0.900 / 0.900 | 0.690 |")
    assert lines[2].endswith("| 0.400 (`smile=yes`) | 0.420 (0.200) |")
    assert lines[3].startswith("| `mixed_50` | 64 px shard, 0.5 of rows at 32 px | 32 px | 0.950 |")
    assert lines[3].endswith(f"| {results.DASH} |")  # no generator scored under it
    assert "seed 7; `j.json`" in lines[-1]


def test_the_judge_flip_table_gives_each_read_and_each_generator(tmp_path):
    groups = ["hair_color", "hair_length", "eye_color", "glasses", "smile", "blush"]

    def row(flip, f1, ceiling, dcgan, stylegan):
        return {"spec": {"flip": flip}, "val_macro_f1_32px": f1, "val_macro_f1_64px": 0.96,
                "val_macro_f1_by_group_32px": {g: f1 for g in groups},
                "ceiling_32": {"ceiling": ceiling, "lowest": "smile=yes", "ceiling_by_tag": {"smile=yes": 0.5}},
                "dcgan_val": {"val_control_success": dcgan, "val_lowest": 0.4},
                "stylegan_val": {"val_control_success": stylegan, "val_lowest": 0.1}}  # fmt: skip

    doc = {"profile": "cpu", "calibrated_at": 64, "bundles": {"dcgan": "d", "stylegan": "s"},
           "reads": {"plain": row(False, 0.95, 0.82, 0.65, 0.2), "flip": row(True, 0.96, 0.85, 0.68, 0.21)}}  # fmt: skip
    (tmp_path / "f.json").write_text(json.dumps(doc))
    lines = results.judge_flip(results.Metrics(REPO / "metrics"), tmp_path / "f.json")
    assert lines[0].endswith("| DCGAN's sliders (lowest) | StyleGAN's sliders (lowest) |")
    assert lines[2] == (
        "| `plain` | the image | 0.950 | 0.960 | 0.950 / 0.950 / 0.950 / 0.950 | 0.820 | 0.500 (`smile=yes`) "
        "| 0.650 (0.400) | 0.200 (0.100) |"
    )
    assert lines[3].startswith("| `flip` | image and mirror, mean | 0.960 |")
    assert "at 64 px" in lines[-1] and "`f.json`" in lines[-1]


def test_the_guided_sliders_tables_give_each_guide_and_both_readers(tmp_path):
    readings = {
        "condition_read_at_start": {"reader": {"glasses": 1.0, "smile": 0.9}, "judge": {"glasses": 0.6, "smile": 0.7}},
        "unmoved_kept": {"reader": {"glasses": 0.99, "smile": 0.97}, "judge": {"glasses": 0.8, "smile": 0.9}},
    }
    plain = {"guide": {"steps": 0, "lr": 0.05, "move": 0.0, "anchor": 0.0}, "val_control_success": 0.4,
             "val_lowest": 0.2, "ms_per_moved_image": 2.5, "readings": readings}  # fmt: skip
    keep = {**plain, "guide": {"steps": 10, "lr": 0.05, "move": 1.0, "anchor": 0.0}, "val_control_success": 0.41}
    doc = {"profile": "cpu", "threads": 2, "families": {"dcgan": {"size": 32, "variants": {"plain": plain, "k": keep}}}}
    (tmp_path / "g.json").write_text(json.dumps(doc))
    m = results.Metrics(REPO / "metrics")
    lines = results.guided_sliders(m, tmp_path / "g.json")
    assert lines[2] == "| `dcgan` | plain | none | 0.400 | 0.200 | 0.980 | 0.850 | 2.5 |"
    assert lines[3].startswith("| `dcgan` | k | 10 steps at 0.05, move 1, anchor 0 | 0.410 |")
    by_group = results.guided_sliders_readings(m, tmp_path / "g.json")
    assert by_group[2:] == ["| `dcgan` | glasses | 1.000 | 0.600 | 0.990 | 0.800 |",
                            "| `dcgan` | smile | 0.900 | 0.700 | 0.970 | 0.900 |"]  # fmt: skip


def test_the_sliders_table_says_whose_judge_its_ceilings_read(tmp_path, monkeypatch):
    m = results.Metrics(REPO / "metrics")
    route = {"judge": {"ceiling": 0.8, "lowest": "smile=yes", "ceiling_by_tag": {"smile=yes": 0.5}}}
    for judge, header in (
        (
            {"read_flip": True, "val_macro_f1": m["tagger.judge.val_macro_f1"]},
            "| ceiling 32 px | ceiling on the page |",
        ),
        ({"read_flip": True, "val_macro_f1": 0.5}, "| ceiling 32 px (an earlier record's judge) |"),
        (None, "| ceiling 32 px (an earlier record's judge) |"),  # a result from before it named its judge
    ):
        doc = {"routes": {"32": route, "32_sr": route}, **({"judge": judge} if judge else {})}
        (tmp_path / "c.json").write_text(json.dumps(doc))
        monkeypatch.setattr(results, "CEILING", tmp_path / "c.json")
        lines = results.sliders(m)
        assert header in lines[0], lines[0]
        assert lines[-1].split(" | ")[-3:-1] == ["0.800", "0.800"]  # the mean row's ceilings


def test_the_suite_comparison_names_the_common_tests_that_moved_most(tmp_path):
    run = {"seconds": 300.0, "summary": {"passed": 3}}
    target = {"baseline": run, "head": run, "common_tests": 2, "common_seconds": {"baseline": 10.0, "head": 12.0},
              "ratio_common": 1.2, "ratio_wall": 1.0,
              "common_moved_most": [{"test": "test_b", "baseline": 2.0, "head": 4.0}]}  # fmt: skip
    doc = {"commits": {"baseline": "a" * 40, "head": "b" * 40}, "targets": {"test-fast": target},
           "setup_seconds": {"baseline": 60.0, "head": 30.0}, "machine_kind": "AVX2-AMD", "cores": 2,
           "date": "2026-11-29"}  # fmt: skip
    (tmp_path / "r.json").write_text(json.dumps(doc))
    caption = results.test_suite(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[-1]
    assert caption.endswith(
        "The common tests of `make test-fast` that moved most (baseline → HEAD): `test_b` 2.0 → 4.0 s."
    )
    del target["common_moved_most"]  # a result from before the list was kept
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert "moved most" not in results.test_suite(results.Metrics(REPO / "metrics"), tmp_path / "r.json")[-1]
