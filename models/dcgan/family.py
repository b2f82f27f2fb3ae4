"""The DCGAN family of the `train` stage: train, score, register; the PCA-Gaussian baseline, the floor, transfer.

For each size of `dcgan.sizes` (the first is the headline): one conditional DCGAN (it also samples unconditionally,
models/dcgan/net.py) trained by the engine, scored on validation and test (models/metrics/generators.py), registered as an
`anime-dcgan` version (role=dcgan) with its lineage, loss curves and sample grids in its MLflow run; its attribute
sliders (models/dcgan/sliders.py: one per tag, between the condition embeddings) scored by `control_success` on
`dcgan.sliders.val` and `.test` latents by the judge tagger, the test figure per tag kept in the bundle's
sliders.json for the page. Beside it:

- `pca_gaussian`: the baseline (models/dcgan/pca.py), its component count chosen on validation, registered
  (role=pca_gaussian);
- `floor`: training images in place of generated ones, the same N;
- the attribute schema: the six groups, then each annotators' extra group the tagger stage fitted a head for
  (models/dcgan/conditions.read_extra_tags); the generator's config.json records it (`groups`), its figures list the
  extra ones (`extra_groups`), and a group still waiting for labels is left out, said in one line;
- transfer (`dcgan.transfer.tag`, e.g. hair_color=red): the registered version `transfer.source` ("run": the one
  just trained) fine-tuned for `transfer.steps` on the training images of that tag, against the same network trained
  from scratch for the same steps on the same images; both scored on the tag's validation and test images and
  registered (role=transfer, role=transfer_scratch).

Returns the figures of metrics/dcgan.json. The family contract (models/family.py's `Family`, what stages/train.py
calls): `SECTION`, `INPUTS`, `load(params, paths)`, `run(params, data, extractor, inputs, out, world, units)`,
`sheet(out)`, `summary(figures)`.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import checkpoint, tracking
from core.errors import BadInput
from core.names import FIXED, AttributeSchema
from core.params import Params, SliderParams
from models.dcgan import sliders
from models.dcgan.conditions import ConditionPrior
from models.dcgan.net import MODEL, Generator
from models.dcgan.pca import PcaGaussian
from models.dcgan.train import build
from models.engine import bundle, distributed, gan, tracked
from models.engine.gan import to_uint8
from models.engine.plots import UnitPlots
from models.engine.record import run_record
from models.metrics import generators
from models.tagger.extractor import Tagger, load_judge

SECTION = "dcgan"
INPUTS = ("data", "labels", "auto_tags", "extra_tags", "extra_heads", "judge_tagger")  # keys of stages/train.PATHS
SECTIONS = [SECTION]


@dataclass
class SplitData:
    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # [N, groups of `schema`] conditions (-1 unknown)
    schema: AttributeSchema = FIXED


def load(params: Params, paths: dict[str, Path]) -> tuple[dict, dict]:
    """({"images": {size: {split: SplitData}}, "judge": the slider judge}, what the stage records of the data): the
    ingest shards of every size with their conditions (the `label` stage's tags, the tagger's auto-tags where an
    image has none; the annotators' extra groups with a tagger head after the six), and the tagger stage's judge
    CNN that scores the sliders (models/dcgan/sliders.py)."""
    return load_conditioned(paths, params.dcgan.sizes)


def load_conditioned(paths: dict[str, Path], sizes: list[int]) -> tuple[dict, dict]:
    """`load` for the shards of `sizes` (also the conditional StyleGAN's, models/stylegan/family.py)."""
    from dataset.shards import ImageShards
    from models.dcgan.conditions import conditions, read_auto_tags, read_extra_tags
    from models.tagger.labels import read_tags

    try:
        tags, auto = read_tags(paths["labels"]), read_auto_tags(paths["auto_tags"])
        extra = None
        if paths.get("extra_tags") is not None and Path(paths["extra_tags"]).exists():  # absent: a tagger output
            extra = read_extra_tags(paths["extra_tags"], paths["extra_heads"])  # from before extra groups
        judge = load_judge(paths["judge_tagger"])
        schema = extra.schema if extra is not None else FIXED
        unread = sorted(set(schema.extra) - set(judge.schema.extra))
        if unread or any(judge.schema.groups[g] != schema.groups[g] for g in schema.extra):
            raise BadInput(
                f"{paths['judge_tagger']}: the judge has no head, or other values, for the extra groups "
                f"{', '.join(unread or schema.extra)} that {paths['extra_heads']} has; re-run the tagger stage"
            )
        out: dict[int, dict] = {}
        counts: dict[str, int] = {}
        for size in sizes:
            out[size] = {}
            for split in ("train", "val", "test"):
                shards = ImageShards(paths["data"], size, split)
                y, c = conditions(shards.ids, tags, auto, extra if schema.extra else None)
                out[size][split] = SplitData(shards.arrays()[0], y, schema)
                if size == sizes[0]:
                    counts.update({f"{split}_{k}": v for k, v in c.items()})
    except FileNotFoundError as err:
        raise BadInput(f"{err}; run the stage that writes it first (dvc repro)") from None
    except ValueError as err:
        raise BadInput(str(err)) from None
    for split, d in out[sizes[0]].items():
        if len(d.images) < 8:  # k-nearest-neighbour precision/recall (k = 3) and the NDB bins need a few
            raise BadInput(
                f"{paths['data']}: the {split} split has {len(d.images)} images; a generator needs at least 8"
            )
    record = {"train_images": len(out[sizes[0]]["train"].images), "conditions_by_origin": counts}
    if extra is not None and (schema.extra or extra.waiting):  # only where annotators added groups
        record.update({"extra_groups": list(schema.extra), "extra_groups_waiting": extra.waiting})
    if extra is not None and extra.waiting:
        print(
            f"conditions: extra groups {', '.join(extra.waiting)} have no tagger head yet (the tagger stage fits one "
            "from tagger.extra_min_labels labelled training images; a pinned tagger fits none): left out of the "
            "generators' conditions and sliders"
        )
    return {"images": out, "judge": judge, "schema": schema}, record


def sheet(out: Path) -> np.ndarray:
    """The uncurated grid of the docs: 64 samples of the headline size from fixed seeds, 8 columns, enlarged 2x."""
    from synth.sheet import tile

    return tile(np.load(out / "samples.npy"), cols=8, zoom=2)


def summary(figures: dict) -> str:
    head = figures["dcgan"]
    return (
        f"test fd_tagger {head['fd_tagger']} (pca_gaussian {figures['pca_gaussian']['fd_tagger']}, floor "
        f"{figures['floor']['fd_tagger']}), precision {head['precision']}, recall {head['recall']}, tag_tv "
        f"{head['tag_tv']}, cond_accuracy {head['cond_accuracy']}, control_success {head.get('control_success')}; "
        f"version {head['version']}"
    )


def sampler(G: Generator, prior: ConditionPrior | None, batch: int = 256) -> generators.Sampler:
    """sample(n, cond, seed) with the EMA generator in eval mode. A conditional G draws what `cond` does not ask
    (-1, or all of it when cond is None) from the training prior (models/dcgan/conditions.py)."""
    null = torch.tensor(G.schema.sizes)

    @torch.no_grad()
    def sample(n: int, cond: np.ndarray | None, seed: int) -> np.ndarray:
        G.eval()
        gen = torch.Generator().manual_seed(seed)
        full = prior.sample(n, np.random.default_rng(seed), cond) if G.conditional and prior is not None else cond
        out = []
        for i in range(0, n, batch):
            m = min(batch, n - i)
            z = torch.randn(m, G.nz, generator=gen)
            c = None
            if full is not None and G.conditional:
                y = torch.from_numpy(full[i : i + m])
                c = torch.where(y < 0, null.expand_as(y), y)
            out.append(to_uint8(G(z, c)))
        return np.concatenate(out)

    return sample


def slider_scores(p: SliderParams, seed: int, G: Generator, prior: ConditionPrior, judge: Tagger) -> dict:
    """control_success of every slider (models/dcgan/sliders.py) on validation and test latents and conditions; a
    generator with extra groups lists them (`extra_groups`: their sliders and cond_accuracy are read by the judge's
    own heads for them)."""
    t0 = time.perf_counter()
    val = sliders.control_success(G, prior, judge, p.val, seed + 11)
    test = sliders.control_success(G, prior, judge, p.test, seed + 12)
    extra = {"extra_groups": list(G.schema.extra)} if G.schema.extra else {}
    return {
        **extra,
        "control_success": float(np.mean(list(test.values()))),
        "control_success_by_tag": test,
        "val_control_success": float(np.mean(list(val.values()))),
        "val_control_success_by_tag": val,
        "sliders_seconds": time.perf_counter() - t0,
    }


def score(
    extractor: Tagger,
    refs: dict,
    sample: generators.Sampler,
    seed: int,
    conditional: bool,
    schema: AttributeSchema | None = None,
    judge: Tagger | None = None,
) -> dict:
    """Every generator figure on each reference split; `schema`: the generator's groups (default: the references'),
    `judge`: the reader of its extra groups (models/metrics/generators.conditional_scores)."""
    figures: dict = {}
    for split, ref in refs.items():
        prefix = "" if split == "test" else "val_"
        scores = generators.unconditional_scores(extractor, ref, sample(len(ref.images), None, seed), seed)
        if conditional:
            scores.update(generators.conditional_scores(extractor, ref, sample, seed + 1, schema, judge))
        figures.update({f"{prefix}{k}": v for k, v in scores.items() if not (prefix and k in generators.SPLIT_FREE)})
    return figures


def log_scores(figures: dict) -> None:
    tracking.log_metrics({k: v for k, v in figures.items() if isinstance(v, (int, float, dict))})


# settings bundles written before they existed had: off, the six groups
_DEFAULTS = {"cond_bn": False, "reader": 0, "groups": FIXED.as_config()}


def _train_one(
    params: Params,
    size: int,
    data: SplitData,
    world,
    folder: Path,
    name: str,
    steps: int | None = None,
    init: Path | None = None,
    plots: UnitPlots | None = None,
):
    """Train (or fine-tune from bundle `init`) one DCGAN, with MLflow callbacks on rank 0."""
    p = params.dcgan
    task = build(p, size, data.images, data.labels, params.seed, data.schema)
    if init is not None:
        for net, config in ((task.G, "config.json"), (task.D, "discriminator.json")):
            was = json.loads((init / config).read_text())
            differ = sorted(k for k, v in net.config.items() if was.get(k, _DEFAULTS.get(k)) != v)
            if differ:
                raise BadInput(
                    f"dcgan.transfer.source: that version's {type(net).__name__} differs from these params in "
                    f"{', '.join(differ)}; fine-tune a version trained with the same network settings"
                )
        bundle.load_weights(task.G, init)
        task.D.load_state_dict(bundle.load_tensors(init / "discriminator.safetensors"))

    config = gan.config(p, params.seed, steps)
    result = tracked.train(task, config, world=world, folder=folder, desc=f"dcgan-{size}", plots=plots)
    return task, result


def save_sliders(folder: Path, control_success_by_tag: dict[str, float], schema: AttributeSchema = FIXED) -> None:
    """sliders.json of a bundle: the test control_success per slider (shown beside each on the page), the ranges."""
    doc = {"control_success_by_tag": control_success_by_tag, "ranges": sliders.ranges(schema)}
    (folder / "sliders.json").write_text(json.dumps(doc, indent=1) + "\n")


def save(task, result, prior: ConditionPrior, folder: Path, role: str, extra: dict) -> None:
    result.g_ema.save(folder, {"role": role, "steps_done": result.steps_done, **extra})
    prior.save(folder / "conditions.safetensors")  # the training combinations: unconditional / partial sampling
    bundle.save_tensors(task.D, folder / "discriminator.safetensors")  # for fine-tuning; serving loads G only
    (folder / "discriminator.json").write_text(json.dumps(task.D.config) + "\n")


def run(
    params: Params,
    data: dict,
    extractor: Tagger,
    inputs: list[str],
    out: Path,
    world: distributed.World,
    units: tracking.Units,
) -> dict:
    """Train and score every size; `data["images"][size][split]`. Only rank 0 logs, scores and registers; a unit that an
    earlier attempt of the stage registered is taken from the registry (`units`) by every rank, not trained again."""
    p = params.dcgan
    ckpt_root = checkpoint.ROOT / "gan"
    figures: dict = {}
    for i, size in enumerate(p.sizes):
        d = data["images"][size]
        key = checkpoint.key(p.model_dump(), size, params.seed, [tracking.dvc_md5(x) for x in inputs])
        folder = ckpt_root / f"dcgan-{size}-{key}"
        section = "dcgan" if i == 0 else f"dcgan_{size}"
        unit = f"dcgan-{size}"
        if not world.main:  # under torchrun: the same trainings, in step with rank 0, which alone scores and registers
            if not distributed.share(False, world):
                _train_one(params, size, d["train"], world, folder, section)
            if i == 0 and p.transfer.tag:
                _transfer(params, size, d, None, inputs, out, world, ckpt_root, None, units)
            continue
        refs = {
            s: generators.reference(
                extractor, d[s].images, d[s].labels, d["train"].images, p.eval.samples, params.seed, d[s].schema
            )
            for s in ("val", "test")
        }
        kept = units.earlier(unit, MODEL, out)
        if not distributed.share(kept is not None, world):
            with tracking.start_run("dcgan", params, "train", SECTIONS, inputs, run_name=unit):
                import mlflow

                mlflow.set_tags({"role": "dcgan", "size": str(size)})
                t0 = time.perf_counter()
                plots = UnitPlots(out / tracking.PLOTS, unit)
                task, result = _train_one(params, size, d["train"], world, folder, section, plots=plots)
                seconds = time.perf_counter() - t0
                prior = ConditionPrior.fit(d["train"].labels)
                G = result.g_ema
                scores = score(extractor, refs, sampler(G, prior), params.seed, G.conditional, G.schema, data["judge"])
                if result.g_ema.conditional:
                    scores.update(slider_scores(p.sliders, params.seed, result.g_ema, prior, data["judge"]))
                log_scores(scores)
                bundle_dir = out / unit
                save(task, result, prior, bundle_dir, "dcgan", {"extractor_version": extractor.version})
                if result.g_ema.conditional:
                    save_sliders(bundle_dir, scores["control_success_by_tag"], result.g_ema.schema)
                files = []
                if i == 0:  # the contact sheet's samples
                    np.save(out / "samples.npy", sampler(result.g_ema, prior)(64, None, params.seed + 5))
                    files.append(out / "samples.npy")
                kept = {
                    **scores,
                    **run_record(result, seconds, size),
                }
                tags = {"role": "dcgan", "size": str(size)}
                kept["version"] = units.register(unit, MODEL, bundle_dir, kept, files, tags, plots.stored())
                checkpoint.clear_states(folder)
        figures[section] = kept
        if i == 0:
            figures["pca_gaussian"] = _pca_baseline(params, d, extractor, refs, inputs, out, units)
            figures["floor"] = {
                **{
                    f"{'' if s == 'test' else 'val_'}{k}": v
                    for s, ref in refs.items()
                    for k, v in generators.floor_scores(extractor, ref, d["train"].images, params.seed).items()
                },
            }
            if p.transfer.tag:
                figures.update(
                    _transfer(params, size, d, extractor, inputs, out, world, ckpt_root, kept["version"], units)
                )
    return figures


def _pca_baseline(
    params: Params, d: dict[str, SplitData], extractor: Tagger, refs: dict, inputs: list[str], out: Path, units
) -> dict:
    p = params.dcgan
    unit = "dcgan-pca_gaussian"
    kept = units.earlier(unit, MODEL, out)
    if kept is not None:
        return kept
    with tracking.start_run("dcgan", params, "train", SECTIONS, inputs, run_name=unit):
        import mlflow

        mlflow.set_tag("role", "pca_gaussian")
        full = PcaGaussian.fit(d["train"].images, max(p.eval.pca_components), params.seed)
        by_k = {}
        for k in p.eval.pca_components:
            fake = full.truncate(k).sample(len(refs["val"].images), params.seed)
            by_k[k] = generators.unconditional_scores(extractor, refs["val"], fake, params.seed)["fd_tagger"]
        best = min(by_k, key=lambda k: (by_k[k], k))
        model = full.truncate(best)
        scores = score(extractor, refs, lambda n, c, s: model.sample(n, s), params.seed, conditional=False)
        scores["components"] = len(model.std)  # the grid value, or fewer where the data has fewer (N - 1, pixels)
        scores["val_fd_tagger_by_components"] = {str(k): v for k, v in by_k.items()}
        log_scores(scores)
        model.save(out / "pca_gaussian", {"role": "pca_gaussian"})
        scores["version"] = units.register(unit, MODEL, out / "pca_gaussian", scores, tags={"role": "pca_gaussian"})
    return scores


def _unconditional(sample: generators.Sampler) -> generators.Sampler:
    return lambda n, cond, seed: sample(n, None, seed)


def _subset(d: SplitData, group: str, value: str) -> SplitData:
    keep = d.labels[:, d.schema.names.index(group)] == d.schema.index_of(group, value)
    return SplitData(d.images[keep], d.labels[keep], d.schema)


def transfer_shortfall(tag: str, d: dict[str, SplitData]) -> str | None:
    """Why the transfer study cannot run on these conditions (a split with under 4 images of `tag`: k = 3 nearest
    neighbours need 4), or None."""
    group, value = tag.split("=")
    for s in ("train", "val", "test"):
        n = len(_subset(d[s], group, value).images)
        if n < 4:
            return f"dcgan.transfer.tag {tag}: only {n} {s} images have it (4 needed)"
    return None


def _transfer(params, size, d, extractor, inputs, out, world, ckpt_root, run_version, units) -> dict:
    """Fine-tune against from-scratch, the same steps on the same images of one tag (rank 0 scores, registers). Data
    with too few images of the tag (an untagged collection whose auto-tags are rarely trusted) skip it, saying why in
    the figures: the study is a side figure, not a reason to fail the generator."""
    t = params.dcgan.transfer
    group, value = t.tag.split("=")
    short = transfer_shortfall(t.tag, d)
    if short is not None:
        print(f"train dcgan: transfer skipped: {short}; choose another tag (dcgan.transfer.tag) or '' for none")
        return {"transfer": {"skipped": short}}
    sub = {s: _subset(d[s], group, value) for s in ("train", "val", "test")}
    figures: dict = {}
    roles = ("transfer", "transfer_scratch")
    folders = {
        role: ckpt_root
        / f"dcgan-{role}-{checkpoint.key(params.dcgan.model_dump(), size, role, t.source, [tracking.dvc_md5(x) for x in inputs])}"
        for role in roles
    }
    if not world.main:  # rank 0 broadcasts its starting weights (models/engine/gan.py): only the steps are taken here
        for role in roles:
            if not distributed.share(False, world):
                _train_one(params, size, sub["train"], world, folders[role], role, t.steps)
        return figures
    refs = {
        s: generators.reference(
            extractor,
            sub[s].images,
            sub[s].labels,
            sub["train"].images,
            params.dcgan.eval.samples,
            params.seed,
            sub[s].schema,
        )
        for s in ("val", "test")
    }
    source = (
        run_version
        if t.source == "run"
        else (t.source if t.source.isdigit() else tracking.alias_version(MODEL, t.source))
    )
    if source is None:
        raise BadInput(f"dcgan.transfer.source {t.source!r}: {MODEL} has no such alias")
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tracking.download_version(MODEL, source, tmp))
        for role, start in (("transfer", init), ("transfer_scratch", None)):
            unit = f"dcgan-{role}"
            kept = units.earlier(unit, MODEL, out)
            if not distributed.share(kept is not None, world):
                with tracking.start_run("dcgan", params, "train", SECTIONS, inputs, run_name=f"{unit}-{t.tag}"):
                    import mlflow

                    mlflow.set_tags({"role": role, "transfer_tag": t.tag, "transfer_source": source})
                    t0 = time.perf_counter()
                    plots = UnitPlots(out / tracking.PLOTS, unit)
                    task, result = _train_one(
                        params, size, sub["train"], world, folders[role], role, t.steps, start, plots
                    )
                    seconds = time.perf_counter() - t0
                    prior = ConditionPrior.fit(sub["train"].labels)
                    sample = _unconditional(sampler(result.g_ema, prior))
                    scores = score(extractor, refs, sample, params.seed, False)
                    # the tag's held-out images are few: FD of so few is singular; KID of t.samples generated
                    # images, with a bootstrap interval, and the floor at the same sizes, instead
                    scores = {k: v for k, v in scores.items() if k not in ("fd_tagger", "val_fd_tagger")}
                    scores.update(generators.held_out_kid(extractor, refs, sample, t.samples, params.seed))
                    log_scores(scores)
                    save(task, result, prior, out / unit, role, {"transfer_tag": t.tag})
                    kept = {
                        **{k: v for k, v in scores.items() if not isinstance(v, dict)},
                        "tag": t.tag,
                        "train_images": len(sub["train"].images),
                        **run_record(result, seconds, keys=("steps_done", "train_seconds")),
                        **({"source_version": source} if start is not None else {}),
                    }
                    tags = {"role": role, "size": str(size)}
                    kept["version"] = units.register(unit, MODEL, out / unit, kept, tags=tags, plots=plots.stored())
                    checkpoint.clear_states(folders[role])
            figures[role] = kept
    n = min(t.samples, len(sub["train"].images))  # real images in place of generated ones, each drawn once
    floor = generators.held_out_kid(extractor, refs, _real_draws(sub["train"].images), n, params.seed)
    figures["transfer_floor"] = {**floor, "tag": t.tag, "train_images": len(sub["train"].images)}
    return figures


def _real_draws(images: np.ndarray) -> generators.Sampler:
    """A sampler of real images, each drawn at most once (a repeated image would pair with itself in KID's
    within-set term): the floor's side of a comparison."""

    def sample(n: int, cond, seed: int) -> np.ndarray:
        if n > len(images):
            raise ValueError(f"{n} real images asked of {len(images)}")
        return images[np.random.default_rng(seed).choice(len(images), n, replace=False)]

    return sample
