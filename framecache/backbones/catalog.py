"""The backbone catalogue command: which backbones this machine can run offline, and fetching one.

    uv run python -m framecache.backbones.catalog              # aliases, and every cached timm/torchvision model
    uv run python -m framecache.backbones.catalog --all        # also every name timm and torchvision accept
    uv run python -m framecache.backbones.catalog fetch NAME   # download NAME's weights into its library's cache

``list`` (the default) never touches the network: it reads the Hugging Face cache and the torch hub folder.
``fetch`` is what the extract stage does on first use, without extracting anything: run it on a connected
machine and copy the cache folder it names to an offline one.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence

from framecache.backbones import fetch, names
from framecache.backbones.weights import cached_weights_path, weights_path
from framecache.cli import run


def alias_rows() -> Iterator[str]:
    """One line per alias: name, whether its weights are here, what it is."""
    for name, spec in sorted(names.ALIASES.items()):
        here = "offline" if cached_weights_path(name) is not None else "fetch on first use"
        yield f"  {name:<22} {here:<20} k={spec.k:<5} {spec.weights} ({spec.doc})"


def cached_timm() -> list[str]:
    """``timm/<model>.<tag>`` of every timm repository in the Hugging Face cache holding a weights file."""
    from huggingface_hub import scan_cache_dir

    root = fetch.hf_cache()
    if not root.is_dir():
        return []
    found = []
    for repo in scan_cache_dir(root).repos:
        files = {f.file_name for rev in repo.revisions for f in rev.files}
        if repo.repo_type == "model" and repo.repo_id.startswith(names.TIMM_PREFIX) and files & {*_timm_files()}:
            found.append(repo.repo_id)
    return sorted(found)


def _timm_files() -> tuple[str, ...]:
    from framecache.backbones.weights import TIMM_HUB_FILES

    return TIMM_HUB_FILES


def cached_torchvision() -> list[str]:
    """``torchvision/<builder>:<WEIGHTS>`` of every torchvision checkpoint in the torch hub folder."""
    from torchvision import models

    folder = fetch.hub_checkpoints()
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    found = []
    for builder in models.list_models(module=models):
        for weights in models.get_model_weights(builder):
            if fetch.url_file(weights.url).name in present:
                found.append(f"{names.TORCHVISION_PREFIX}{builder}:{type(weights).__name__}.{weights.name}")
    return sorted(found)


def all_names() -> Iterator[str]:
    """Every name timm and torchvision accept (pretrained timm models; torchvision default weights)."""
    import timm
    from torchvision import models

    yield from (names.TIMM_PREFIX + n for n in timm.list_pretrained())
    yield from (names.TORCHVISION_PREFIX + b for b in models.list_models(module=models))


def listing(everything: bool = False) -> list[str]:
    lines = ["aliases (extract.backbone):", *alias_rows()]
    lines += [f"timm models in the Hugging Face cache {fetch.hf_cache()}:"]
    lines += [f"  {n}" for n in cached_timm()] or ["  (none)"]
    lines += [f"torchvision checkpoints in {fetch.hub_checkpoints()}:"]
    lines += [f"  {n}" for n in cached_torchvision()] or ["  (none)"]
    if everything:
        lines += ["every timm and torchvision name (weights fetched on first use):"]
        lines += [f"  {n}" for n in all_names()]
    else:
        lines += [
            "any pretrained timm model (timm/<model>.<tag>) or torchvision classifier works too: --all lists them"
        ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", nargs="?", choices=("list", "fetch"), default="list")
    p.add_argument("names", nargs="*", help="backbones to fetch (fetch only)")
    p.add_argument("--all", action="store_true", help="list every name timm and torchvision accept")
    args = p.parse_args(argv)
    if args.command == "list":
        print("\n".join(listing(args.all)))
        return 0
    if not args.names:
        p.error("fetch needs at least one backbone name")
    for name in args.names:
        names.check_name(name)
        print(f"{name}: {weights_path(name)}")
    return 0


if __name__ == "__main__":
    run(main)
