"""Getting a weights file the way its library gets it: from the Hugging Face cache through
``huggingface_hub`` (timm models) or from the torch hub folder through ``torch.hub`` (torchvision models, and
timm models published only by URL) — their cache folders, environment variables (``HF_HOME``,
``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``, ``HF_TOKEN``, ``TORCH_HOME``), progress bars and checksum checks.

A cached file is used without touching the network. A missing one is downloaded once, unless this machine is
offline — ``HF_HUB_OFFLINE=1`` (which framecache also honours for torchvision downloads) or no network —
and then :class:`FramecacheError` says in one line which file of which model is missing, the one command
that fetches it on a connected machine, and where to copy it here.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from framecache.errors import FramecacheError

FETCH_COMMAND = "uv run python -m framecache.backbones.catalog fetch {name}"
OFFLINE_FLAG = "HF_HUB_OFFLINE=1: unset it to download here"
_TRUE = {"1", "on", "yes", "true"}


def offline() -> bool:
    """Whether downloads are off: ``HF_HUB_OFFLINE`` set (as huggingface_hub reads it, at its import or now)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_checkpoints() -> Path:
    """torch hub's checkpoints folder (``$TORCH_HOME/hub/checkpoints``), where torchvision caches weights."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def url_file(url: str) -> Path:
    """Where torch.hub keeps the download of ``url``."""
    return hub_checkpoints() / os.path.basename(urlparse(url).path)


def hf_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def cached_hf_file(repo_id: str, filenames: tuple[str, ...]) -> Path | None:
    """The first of ``filenames`` in the Hugging Face cache copy of ``repo_id`` (``repo@revision`` allowed),
    without any network access; None when none is cached."""
    from huggingface_hub import try_to_load_from_cache

    repo, _, revision = repo_id.partition("@")
    for filename in filenames:
        found = try_to_load_from_cache(repo_id=repo, filename=filename, cache_dir=hf_cache(), revision=revision or None)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def hf_file(name: str, repo_id: str, filenames: tuple[str, ...]) -> Path:
    """The weights file of ``repo_id``: the cached copy, else downloaded by ``hf_hub_download`` (the first of
    ``filenames`` the repository has, as timm tries them); FramecacheError when that cannot happen."""
    cached = cached_hf_file(repo_id, filenames)
    if cached is not None:
        return cached
    repo, _, revision = repo_id.partition("@")
    where = f"{filenames[0]} of the Hugging Face repo {repo}"
    folder = f"models--{repo.replace('/', '--')}"
    copy = f"then copy its Hugging Face cache folder {folder} (under ~/.cache/huggingface/hub there) into {hf_cache()}"
    if offline():
        raise _missing(name, where, f"not in the Hugging Face cache {hf_cache()}", OFFLINE_FLAG, copy)
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    unreachable = _unreachable(constants.ENDPOINT)
    if unreachable:
        raise _missing(name, where, f"not in the Hugging Face cache {hf_cache()}", unreachable, copy)
    for filename in filenames:
        try:
            return Path(hf_hub_download(repo, filename, revision=revision or None, cache_dir=hf_cache()))
        except LocalEntryNotFoundError as exc:  # the hub could not be asked: no network
            raise _missing(name, where, f"not cached and the download failed ({_first_line(exc)})", "", copy) from None
        except EntryNotFoundError:
            continue
        except Exception as exc:  # no network, a proxy, a gated repo: say it in one line
            raise _missing(name, where, f"not cached and the download failed ({_first_line(exc)})", "", copy) from None
    raise FramecacheError(f"backbone {name}: the Hugging Face repo {repo} has none of {', '.join(filenames)}")


def url_weights(name: str, url: str) -> Path:
    """The torch hub copy of ``url``, downloaded by ``torch.hub`` when missing (with its progress bar and the
    sha256 prefix in the file name checked); FramecacheError when that cannot happen."""
    path = url_file(url)
    if path.is_file():
        return path
    copy = f"then copy {path.name} from that machine's torch hub folder (~/.cache/torch/hub/checkpoints) into "
    copy += str(path.parent)
    if offline():
        raise _missing(name, path.name, f"not in the torch hub folder {path.parent}", OFFLINE_FLAG, copy)
    unreachable = _unreachable(url)
    if unreachable:
        raise _missing(name, path.name, f"not in the torch hub folder {path.parent}", unreachable, copy)
    import torch.hub

    match = torch.hub.HASH_REGEX.search(path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), match.group(1) if match else None, progress=True)
    except Exception as exc:
        raise _missing(
            name, path.name, f"not cached and the download of {url} failed ({_first_line(exc)})", "", copy
        ) from None
    return path


def _unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why ``url``'s host cannot be reached (a quick connect, so that a machine without a network fails in
    seconds instead of after the libraries' retries), or None. Behind a proxy the libraries are left to try."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return f"no network: {parsed.hostname} cannot be reached ({_first_line(exc)})"
    return None


def _missing(name: str, what: str, state: str, flag: str, copy: str) -> FramecacheError:
    offline_note = f" and this machine is offline ({flag})" if flag else ""
    return FramecacheError(
        f"backbone {name}: weights file {what} is {state}{offline_note}. On a machine with network access run "
        f"`{FETCH_COMMAND.format(name=name)}`, {copy}"
    )


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


__all__ = ["cached_hf_file", "hf_cache", "hf_file", "hub_checkpoints", "offline", "url_file", "url_weights"]
