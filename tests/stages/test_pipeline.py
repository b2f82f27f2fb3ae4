"""The whole DAG with DVC on a copy of the repository (smoke profile): runs, is a no-op when unchanged, re-runs what a
changed param reaches, pushes to and pulls from the local remote, and stops with exit 2 on a params typo. Its data
are the generated set mixed with small collections in the public data sets' layouts, most of them untagged."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
import yaml

from core.params import load_params
from tests.conftest import run, set_profile
from tests.dataset.test_layouts import build_crypko, real_layouts

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1800)  # about 11 minutes on one core of a 2-core machine (a make test worker): 900 s is too near
def test_dvc_repro_noop_change_push_pull(repo_copy, tmp_path):
    extra = real_layouts(tmp_path / "layouts")
    set_profile(repo_copy / "params.yaml", "smoke", ingest__sources=[{"spec": "generated"}, *extra])
    run(["git", "commit", "-qam", "the generated set and four collections"], repo_copy)  # a clean checkout's run
    run(["python", "-m", "stages.source"], repo_copy)
    first = run(["dvc", "repro"], repo_copy)
    assert "Running stage 'ingest'" in first.stdout and "Running stage 'pixel_baseline'" in first.stdout
    assert "Running stage 'tagger'" in first.stdout
    assert all(f"Running stage '{st}'" in first.stdout for st in ("render", "pose", "label"))
    pose = json.loads((repo_copy / "metrics" / "pose.json").read_text())["pose"]["posenet"]
    assert (
        set(pose["pck_0_05_by_kind"]) == {"stick", "sketch", "projection", "drawn"} and pose["retrieval_candidates"] > 0
    )
    assert (repo_copy / "data" / "label" / "joints.json").exists() and (
        repo_copy / "data" / "label" / "tags.csv"
    ).exists()
    tagger = json.loads((repo_copy / "metrics" / "tagger.json").read_text())["tagger"]
    assert {"cnn", "hog_baseline", "judge", "floor", "chosen", "chosen_version"} <= set(tagger)
    assert (repo_copy / "data" / "tagger" / "tags_auto.csv").exists()
    metrics = json.loads((repo_copy / "metrics" / "ingest.json").read_text())["ingest"]
    assert metrics["images"] > 200 and metrics["images_by_split"]["test"] > 0
    assert set(metrics["images_by_source"]) == {"generated", *(e["spec"] for e in extra)}
    assert [metrics["tagged_by_source"][e["spec"]] for e in extra] == [0, 0, 0, 2]  # Danbooru's posts carry tags
    manifest = (repo_copy / "data" / "ingest" / "manifest.csv").read_text().splitlines()
    auto = (repo_copy / "data" / "tagger" / "tags_auto.csv").read_text().splitlines()
    assert len(auto) == len(manifest) == metrics["images"] + 1  # every image of every source is auto-tagged
    by_origin = tagger["auto_tags"]["tags_by_origin"]  # the untagged collections' groups: trusted auto-tags or unknown
    untagged = sum(metrics["images_by_source"][e["spec"]] for e in extra) * 6 - 2 * 6
    assert by_origin["annotation"] == 0 and by_origin["auto"] + by_origin["unknown"] >= untagged
    baseline = json.loads((repo_copy / "metrics" / "pixel_baseline.json").read_text())["pixel_baseline"]
    assert 0.0 < baseline["pixel_linear"]["macro_f1"] < 1.0
    dcgan = json.loads((repo_copy / "metrics" / "dcgan.json").read_text())["dcgan"]
    assert {"dcgan", "pca_gaussian", "floor", "transfer", "transfer_scratch"} <= set(dcgan)
    for figure in ("fd_tagger", "precision", "recall", "tag_tv", "cond_accuracy"):
        assert isinstance(dcgan["dcgan"][figure], float) and isinstance(dcgan["dcgan"][f"val_{figure}"], float)
    for figure in ("ndb_ratio", "msssim_diversity"):  # split-free: reported once
        assert isinstance(dcgan["dcgan"][figure], float) and f"val_{figure}" not in dcgan["dcgan"]
    ruler = json.loads((repo_copy / "metrics" / "ruler.json").read_text())["ruler"]["ruler"]
    assert ruler["epochs_done"] >= 1 and dcgan["ruler_version"] == ruler["weights_sha256"][:12]
    for section in ("dcgan", "pca_gaussian", "floor"):  # every feature figure in the second ruler's space too
        for figure in ("fd_ssl", "kid_ssl", "precision_ssl", "recall_ssl"):
            assert isinstance(dcgan[section][figure], float) and isinstance(dcgan[section][f"val_{figure}"], float)
    assert dcgan["transfer"]["source_version"] == dcgan["dcgan"]["version"]
    by_k = dcgan["pca_gaussian"]["val_fd_tagger_by_components"]  # the baseline's size: validation's minimum
    assert set(by_k) == {"2", "4"} and dcgan["pca_gaussian"]["val_fd_tagger"] == min(by_k.values())
    assert str(dcgan["pca_gaussian"]["components"]) == min(by_k, key=lambda k: (by_k[k], int(k)))
    assert (repo_copy / "docs" / "dcgan_samples.png").stat().st_size > 0
    assert (repo_copy / "data" / "train" / "dcgan" / "dcgan-32" / "model.safetensors").exists()
    sg = json.loads((repo_copy / "metrics" / "stylegan.json").read_text())["stylegan"]["stylegan"]
    for figure in ("fd_tagger", "precision", "recall", "tag_tv", "cond_accuracy", "control_success"):
        assert isinstance(sg[figure], float) and isinstance(sg[f"val_{figure}"], float)
    assert isinstance(sg["ndb_ratio"], float) and "val_ndb_ratio" not in sg
    bundle = repo_copy / "data" / "train" / "stylegan" / "stylegan-32"
    sliders = json.loads((bundle / "sliders.json").read_text())  # DCGAN's kind: between the condition embeddings
    assert set(sliders["ranges"]) == set(sg["control_success_by_tag"]) == set(sliders["control_success_by_tag"])
    assert json.loads((bundle / "config.json").read_text())["conditional"] is True
    assert (bundle / "conditions.safetensors").exists()
    assert (repo_copy / "docs" / "stylegan_samples.png").stat().st_size > 0
    sr = json.loads((repo_copy / "metrics" / "sr.json").read_text())["sr"]
    assert {"sr", "srgan", "bicubic"} <= set(sr) and "floor" not in sr  # paired figures: no unpaired floor
    for figure in ("psnr_db", "ssim", "psnr_gain_vs_bicubic_db", "fd_tagger"):
        for model in ("sr", "srgan", "bicubic"):
            assert isinstance(sr[model][figure], float) and isinstance(sr[model][f"val_{figure}"], float)
    weights = load_params(repo_copy / "params.yaml").sr.gan.perceptual_weights
    assert set(sr["srgan"]["val_fd_tagger_by_weight"]) == {f"{w:g}" for w in weights}  # one candidate per weight
    assert (repo_copy / "docs" / "sr_samples.png").stat().st_size > 0
    assert (repo_copy / "data" / "train" / "sr" / "srgan-64" / "model.safetensors").exists()
    p2s = json.loads((repo_copy / "metrics" / "pose2sketch.json").read_text())["pose2sketch"]
    assert {"pose2sketch", "retrieval", "floor"} <= set(p2s)
    for figure in ("l1", "ssim", "pck_0_05"):
        for model in ("pose2sketch", "retrieval"):
            assert isinstance(p2s[model][figure], float) and isinstance(p2s[model][f"val_{figure}"], float)
    assert (repo_copy / "docs" / "pose2sketch_samples.png").stat().st_size > 0
    from tests.stages.test_metrics_layout import layout_problems

    for path in (repo_copy / "metrics").glob("*.json"):
        assert layout_problems(json.loads(path.read_text()), path.stem) == [], path.name
    # `dvc metrics show` lists the summary stage's headline figures alone; a stage's full file by name
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo_copy).stdout)[""]["data"]
    assert list(shown) == ["metrics/summary.json"], sorted(shown)
    headline = shown["metrics/summary.json"]["data"]["summary"]
    assert headline == json.loads((repo_copy / "metrics" / "summary.json").read_text())["summary"]
    assert headline["tagger_macro_f1"] == tagger[tagger["chosen"]]["macro_f1"] and headline["targets"] >= 20
    full = run(["dvc", "metrics", "show", "--json", "metrics/ingest.json"], repo_copy).stdout
    assert '"images_by_split"' in full

    # evaluate: every model's candidate scored, a first store's candidates become champions; deploy serves them
    ev = json.loads((repo_copy / "metrics" / "evaluate.json").read_text())["evaluate"]
    models = {
        "anime-tagger",
        "anime-posenet",
        "anime-dcgan",
        "anime-stylegan",
        "anime-sr",
        "anime-srgan",
        "anime-pose2sketch",
    }
    assert models <= set(ev) and ev["serving_generator"] in ("anime-dcgan", "anime-stylegan")
    up = ev["sr_on_generated"]  # the served generator's characters through anime-sr, as the page shows them
    assert up["generator"].startswith(ev["serving_generator"]) and up["upscaled_size"] == 4 * up["size"] == 128
    assert 0 <= up["tag_agreement"] <= 1 and len(up["tag_agreement_by_group"]) == 6
    assert (repo_copy / "docs" / "sr_on_generated.png").stat().st_size > 0
    d = dcgan["dcgan"]  # the DCGAN's sliders: one per tag, scored on validation and test
    assert len(d["control_success_by_tag"]) == 19 and 0 <= d["control_success"] <= 1
    assert set(d["val_control_success_by_tag"]) == set(d["control_success_by_tag"])
    assert all(ev[m]["promoted"] and ev[m]["champion_version"] == ev[m]["candidate_version"] for m in models)
    shown = run(["python", "-m", "models.promote", "anime-dcgan", "--show"], repo_copy).stdout
    assert f"v{ev['anime-dcgan']['champion_version']} @champion (now): by stage evaluate" in shown
    comparison = (repo_copy / "data" / "evaluate" / "comparison.md").read_text()
    assert "no champion yet" in comparison
    deployed = json.loads((repo_copy / "data" / "deploy" / "deployed.json").read_text())
    assert deployed["families"]["dcgan"]["version"] == str(ev["anime-dcgan"]["champion_version"])
    assert deployed["generator"] == ev["serving_generator"].removeprefix("anime-") and deployed["smoke"]
    card = json.loads((repo_copy / "data" / "deploy" / "dcgan" / "card.json").read_text())
    assert card["metrics"]["val"]["fd_tagger"] == dcgan["dcgan"]["val_fd_tagger"]  # evaluate re-scored: same figure
    assert card["training_data"]["images"]["licence"] and card["lineage"]["git_commit"]
    assert set(card["training_data"]["images"]["by_source"]) == set(metrics["images_by_source"])
    assert not (repo_copy / "data" / "deploy" / "dcgan" / "discriminator.safetensors").exists()
    plots = json.loads(run(["dvc", "plots", "show", "--json"], repo_copy).stdout)
    assert not plots.get("errors"), plots["errors"]
    assert_training_plots(plots["data"], ["workspace"])
    assert any("pose_joint_error" in k for k in plots["data"])  # the evaluate stage's own

    # a clean checkout's run is clean: the stages rewrite tracked records (contact sheets, metrics), not code
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo_copy / 'mlruns' / 'mlflow.db'}")
    versions = client.search_model_versions()
    assert {v.name for v in versions} >= models
    served = client.get_model_version("anime-dcgan", str(ev["anime-dcgan"]["champion_version"]))
    from serve.deploy import describe

    assert served.description == describe((repo_copy / "data" / "deploy" / "dcgan" / "README.md").read_text())
    assert {
        (v.name, v.version, v.tags.get("git_dirty")) for v in versions if v.tags.get("git_dirty") != "false"
    } == set()

    registered = json.loads((repo_copy / "data" / "tagger" / "registered.json").read_text())
    pin = json.loads((repo_copy / "data" / "extractor" / "pin.json").read_text())
    assert pin["version"] == registered["cnn"]  # a store's first tagger CNN is the extractor

    # Unchanged: nothing runs.
    again = run(["dvc", "repro"], repo_copy)
    assert "Running stage" not in again.stdout, again.stdout
    assert "up to date" in again.stdout

    # A promotion by hand, then its rollback: each is recorded in promotions.json, and the next `dvc repro` deploys
    # that version and runs nothing else; after them, nothing runs.
    champion = str(ev["anime-tagger"]["champion_version"])
    other = registered["baseline"] if champion != str(registered["baseline"]) else registered["cnn"]
    for cmd, served in (([str(other), "--why", "test"], str(other)), (["--rollback", "--why", "test"], champion)):
        moved = run(["python", "-m", "models.promote", "anime-tagger", *cmd], repo_copy)
        assert "`dvc repro` serves it" in moved.stdout
        redeployed = run(["dvc", "repro"], repo_copy).stdout
        assert "Running stage 'deploy'" in redeployed and redeployed.count("Running stage") == 1, redeployed
        deployed = json.loads((repo_copy / "data" / "deploy" / "deployed.json").read_text())
        assert deployed["families"]["tagger"]["version"] == served
    moves = json.loads((repo_copy / "promotions.json").read_text())["moves"]
    assert [(m["version"], m["previous"]) for m in moves] == [(str(other), champion), (champion, str(other))]
    assert "Running stage" not in run(["dvc", "repro"], repo_copy).stdout

    run(["git", "add", "-A"], repo_copy)
    run(["git", "commit", "-qm", "the first run"], repo_copy)  # the record `dvc plots diff` compares against

    # A change outside the active profile re-runs nothing.
    doc = yaml.safe_load((repo_copy / "params.yaml").read_text())
    doc["profiles"]["gpu"]["ingest"]["sizes"] = [64, 256]
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    other = run(["dvc", "repro"], repo_copy)
    assert "Running stage 'ingest'" not in other.stdout

    # A change to one family's params re-runs that family only.
    set_profile(repo_copy / "params.yaml", "smoke", dcgan__steps=10)
    family = run(["dvc", "repro"], repo_copy)
    assert "Running stage 'train@dcgan'" in family.stdout and "Running stage 'train@sr'" not in family.stdout
    assert not any(f"Running stage '{st}'" in family.stdout for st in ("ingest", "tagger", "pose", "label"))
    # ... then evaluate meets the new candidate with the champion: the champion moves only to a better model
    assert "Running stage 'evaluate'" in family.stdout
    ev2 = json.loads((repo_copy / "metrics" / "evaluate.json").read_text())["evaluate"]["anime-dcgan"]
    assert ev2["candidate_version"] != ev["anime-dcgan"]["candidate_version"]
    if not ev2["promoted"]:  # kept: the new candidate is not better on validation fd_tagger (lower is better)
        assert ev2["candidate_val_fd_tagger"] >= ev2["champion_val_fd_tagger"] - 1e-4
    expected = ev2["candidate_version"] if ev2["promoted"] else ev["anime-dcgan"]["champion_version"]
    assert ev2["champion_version"] == expected
    shown = run(["python", "-m", "models.promote", "anime-dcgan", "--show"], repo_copy).stdout
    assert f"v{expected} @champion (now)" in shown
    # ... and `dvc plots diff` shows both runs' DCGAN curves (10 steps against the first run's) and grids
    targets = ["--targets", "data/train/dcgan/plots/losses", "data/train/dcgan/plots/samples"]
    diff = run(["dvc", "plots", "diff", "HEAD", "--json", *targets], repo_copy).stdout
    shown = json.loads(diff)
    assert not shown.get("errors"), shown["errors"]
    # the declared plot (dvc.yaml's x and y) is named `dvc.yaml::<file>`; DVC also gives each file raw beside it
    (curve,) = [v for k, v in shown["data"].items() if re.search(r"^dvc\.yaml::.*/losses/dcgan-\d+\.csv$", k)]
    rows = [row for entry in curve for row in entry["content"]["data"]["values"]]
    steps = {rev: max(int(r["step"]) for r in rows if r["rev"] == rev) for rev in ("HEAD", "workspace")}
    assert steps["workspace"] == 10 and steps["HEAD"] != 10, steps
    grids = {e["revisions"][0] for k, v in shown["data"].items() if k.endswith(".png") for e in v}
    assert grids == {"HEAD", "workspace"}

    # Push to the default local remote, lose the outputs and the cache, pull them back: the whole DAG is up to date.
    run(["dvc", "push"], repo_copy)
    assert (repo_copy / ".dvc-storage").is_dir()
    before = (repo_copy / "data" / "ingest" / "manifest.csv").read_bytes()
    shutil.rmtree(repo_copy / "data" / "ingest")
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    run(["dvc", "pull"], repo_copy)
    assert (repo_copy / "data" / "ingest" / "manifest.csv").read_bytes() == before
    assert "Running stage" not in run(["dvc", "repro"], repo_copy).stdout

    # Changing the active profile's ingest.sizes re-runs ingest and what depends on it (as far as the extractor and
    # the pixel baseline: the generators after them re-run as in the first run above, and take minutes).
    upstream = ["dvc", "repro", "extractor", "pixel_baseline"]
    set_profile(repo_copy / "params.yaml", "smoke", ingest__sizes=[32, 48, 64])
    stale = run(["dvc", "status", "--with-deps", "train@dcgan"], repo_copy).stdout  # the generators are stale too
    assert "up to date" not in stale and "params.yaml" in stale, stale
    changed = run(upstream, repo_copy)
    assert "Running stage 'ingest'" in changed.stdout and "Running stage 'pixel_baseline'" in changed.stdout
    assert (repo_copy / "data" / "ingest" / "images_48.npy").exists()
    # ... the tagger among them, but the extractor pin does not move with it
    assert "Running stage 'tagger'" in changed.stdout
    assert json.loads((repo_copy / "data" / "tagger" / "registered.json").read_text())["cnn"] != pin["version"]
    assert json.loads((repo_copy / "data" / "extractor" / "pin.json").read_text()) == pin
    # moving it is a command: the alias moves, then `dvc repro --force --single-item extractor` rewrites the pin
    # (DVC sees no changed input of its own) and `dvc repro --downstream extractor` re-scores with it. The second
    # re-runs every generator (minutes), so here the move leaves both to DVC (--no-repro; tests/stages/
    # test_extractor_move.py checks the move runs them): the first rewrites the pin, DVC's record follows, and every
    # stage that scores is then stale on it
    move = ["python", "-m", "stages.extractor", "--move", registered["judge"], "--why", "test", "--no-repro"]
    assert f"-> version {registered['judge']}" in run(move, repo_copy).stdout
    assert "Running stage" not in run(upstream, repo_copy).stdout  # the alias is no input DVC sees
    run(["dvc", "repro", "--force", "--single-item", "extractor"], repo_copy)
    assert json.loads((repo_copy / "data" / "extractor" / "pin.json").read_text())["version"] == registered["judge"]
    assert "Running stage" not in run(upstream, repo_copy).stdout
    scoring = ["train@dcgan", "train@stylegan", "train@sr", "train@pose2sketch", "evaluate"]
    stale = json.loads(run(["dvc", "status", "--json", *scoring], repo_copy).stdout)
    for st in scoring:
        changed = {
            k: v for entry in stale[st] if isinstance(entry, dict) for k, v in entry.get("changed deps", {}).items()
        }
        assert changed.get("data/extractor") == "modified", (st, stale[st])
    refused = run(
        ["python", "-m", "stages.extractor", "--move", registered["baseline"], "--why", "x"], repo_copy, check=False
    )
    assert refused.returncode == 2 and "only a tagger CNN" in refused.stderr

    # An untagged collection alone (Crypko's layout): the tagger stage says what to do, and with the store's tagger
    # pinned the pipeline trains a generator on its auto-tags.
    build_crypko(tmp_path / "crypko", 120)
    set_profile(repo_copy / "params.yaml", "smoke", ingest__sources=[{"spec": f"dir:{tmp_path / 'crypko'}"}])
    run(["python", "-m", "stages.source"], repo_copy)
    stopped = run(["dvc", "repro", "tagger"], repo_copy, check=False)
    assert stopped.returncode != 0 and "pin a registered tagger" in stopped.stderr + stopped.stdout
    run(["python", "-m", "stages.tagger", "--pin", "champion", "--why", "crypko has no tags"], repo_copy)
    untagged = run(["dvc", "repro", "train@dcgan", "pixel_baseline"], repo_copy)
    assert "Running stage 'tagger'" in untagged.stdout and "Running stage 'train@dcgan'" in untagged.stdout
    pixel = json.loads((repo_copy / "metrics" / "pixel_baseline.json").read_text())["pixel_baseline"]["pixel_linear"]
    assert pixel["macro_f1"] is None  # nothing to score a pixel model on: said, not failed
    tagged_by = json.loads((repo_copy / "metrics" / "tagger.json").read_text())["tagger"]
    assert tagged_by["chosen"] == "pinned" and tagged_by["auto_tags"]["tags_by_origin"]["source"] == 0
    trained = json.loads((repo_copy / "metrics" / "dcgan.json").read_text())["dcgan"]
    assert isinstance(trained["dcgan"]["fd_tagger"], float)
    by_origin = trained["data"]["conditions_by_origin"]  # conditioned on trusted auto-tags, unknown elsewhere
    assert by_origin["train_labels"] == 0 and by_origin["train_auto_tags"] + by_origin["train_unknown"] > 0
    assert "tagger.pin.json" in (repo_copy / "dvc.lock").read_text()  # the record names the pin it used


def assert_training_plots(data: dict, revisions: list[str]) -> None:
    """`dvc plots show`'s data holds each training stage's own curves (every adversarial unit's losses, the epoch
    loops' fits) and sample grids, for each revision."""
    for family in ("dcgan", "stylegan", "sr", "pose2sketch"):
        curves = [k for k in data if k.startswith(f"data/train/{family}/plots/losses/") and k.endswith(".csv")]
        grids = [k for k in data if k.startswith(f"data/train/{family}/plots/samples/") and k.endswith(".png")]
        assert curves and grids, (family, sorted(data))
        for k in curves:
            (entry,) = data[k]
            assert entry["revisions"] == revisions and {"step", "loss_g", "loss_d"} <= set(
                entry["content"]["data"]["values"][0]
            )
    for prefix in ("data/tagger/plots/fit/tagger-cnn", "data/pose/plots/fit/posenet", "data/train/sr/plots/fit/"):
        assert any(k.startswith(prefix) for k in data), (prefix, sorted(data))


def test_params_typo_stops_the_pipeline_with_exit_2(repo_copy):
    set_profile(repo_copy / "params.yaml", "smoke", ingest__sizess=[32])
    run(["python", "-m", "stages.source"], repo_copy, check=False)
    proc = run(["dvc", "repro"], repo_copy, check=False)
    assert proc.returncode != 0
    assert "ingest.sizess: unknown key" in proc.stderr + proc.stdout
    direct = run(["python", "-m", "stages.params"], repo_copy, check=False)
    assert direct.returncode == 2


def test_a_changed_generated_set_needs_no_lock_but_an_unpinned_folder_is_refused(repo_copy, tmp_path):
    """The generated set is a function of params and code, which DVC tracks: `dvc exp run -S generated.count=120`
    needs no `make lock` (the lock's record of it is out of date, which `stages.source --check` says). A folder the
    lock does not pin is refused with exit 2, nothing replaced."""
    run(["python", "-m", "stages.source"], repo_copy)
    set_profile(repo_copy / "params.yaml", "smoke", generated__count=120)
    run(["python", "-m", "stages.params"], repo_copy)
    proc = run(["python", "-m", "stages.ingest"], repo_copy)
    assert "ingest: " in proc.stdout
    ingested = json.loads((repo_copy / "metrics" / "ingest.json").read_text())["ingest"]
    assert ingested["files_by_source"] == {"generated": 120}
    assert run(["python", "-m", "stages.source", "--check"], repo_copy, check=False).returncode == 2
    build_crypko(tmp_path / "crypko", 10)
    folder = {"spec": f"dir:{tmp_path / 'crypko'}", "groups": []}
    set_profile(repo_copy / "params.yaml", "smoke", ingest__sources=[{"spec": "generated"}, folder])
    run(["python", "-m", "stages.params"], repo_copy)
    before = (repo_copy / "data" / "ingest" / "manifest.csv").read_bytes()
    proc = run(["python", "-m", "stages.ingest"], repo_copy, check=False)
    assert proc.returncode == 2 and "make lock" in proc.stderr
    assert (repo_copy / "data" / "ingest" / "manifest.csv").read_bytes() == before


def test_queued_experiments_with_different_keys_compare(repo_copy):
    """Any key of params.yaml through `dvc exp run --queue -S`, run by `dvc queue start`, compared with `dvc exp show`
    and `dvc metrics diff`: here two keys ingest reads (the seed, the validation share), as far as ingest."""
    run(["python", "-m", "stages.source"], repo_copy)
    run(["git", "add", "-A"], repo_copy)
    run(["git", "commit", "-qm", "lock"], repo_copy)
    for name, key in (("seed7", "seed=7"), ("val30", "ingest.split.val=0.3")):
        run(["dvc", "exp", "run", "ingest", "--queue", "--name", name, "-S", key], repo_copy)
    try:
        run(["dvc", "queue", "start"], repo_copy)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            status = run(["dvc", "queue", "status"], repo_copy).stdout
            if status.count("Success") == 2 or "Failed" in status:
                break
            time.sleep(3)
        assert status.count("Success") == 2, (
            status + run(["dvc", "queue", "logs", "val30"], repo_copy, check=False).stdout
        )
    finally:
        run(["dvc", "queue", "stop", "--kill"], repo_copy, check=False)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo_copy).stdout)
    exps = {e["name"]: e for row in shown for e in (row.get("experiments") or []) for e in e.get("revs", [])}
    assert {"seed7", "val30"} <= set(exps), sorted(exps)
    params = {n: exps[n]["data"]["params"]["params.yaml"]["data"] for n in ("seed7", "val30")}
    assert params["seed7"]["seed"] == 7 and params["val30"]["ingest"]["split"]["val"] == 0.3
    # only metrics/summary.json is declared (the stages' full files are beside it): name the file to compare
    full = ["--targets", "metrics/ingest.json"]
    diff = json.loads(run(["dvc", "metrics", "diff", "seed7", "val30", "--json", *full], repo_copy).stdout)
    changed = diff["metrics/ingest.json"]
    assert "ingest.images_by_split.val" in changed, sorted(changed)
    assert changed["ingest.images_by_split.val"]["new"] > changed["ingest.images_by_split.val"]["old"]
