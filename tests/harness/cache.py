"""Where the harness keeps downloads and build products: outside the checkout."""
import hashlib
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) $BALLOON_EXT_CACHE/<parts>, default ~/.cache/balloon-ext."""
    root = os.environ.get("BALLOON_EXT_CACHE") or Path.home() / ".cache" / "balloon-ext"
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkout_dir(kind: str, *parts: str) -> Path:
    """cache_dir(kind, <this checkout>, *parts): builds and logs per checkout.

    Test runs from two checkouts (CI's clean clone and a work tree) share
    the downloads and chroots, but must not build in, or log to, the same
    place.
    """
    checkout = Path(__file__).resolve().parents[2]
    key = f"{checkout.name}-{hashlib.sha256(str(checkout).encode()).hexdigest()[:8]}"
    return cache_dir(kind, key, *parts)
