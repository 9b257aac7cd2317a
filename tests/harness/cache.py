"""Where the harness keeps downloads and build products: outside the checkout."""
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) $BALLOON_EXT_CACHE/<parts>, default ~/.cache/balloon-ext."""
    root = os.environ.get("BALLOON_EXT_CACHE") or Path.home() / ".cache" / "balloon-ext"
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
