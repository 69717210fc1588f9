"""A real headless browser (Debian's chromium) opening a local page with the network off.

The network is off in two ways at once: the browser runs in a new network namespace with no
interface but loopback (``unshare -n``, when this user may create one), and every host name it
resolves maps to nothing while every connection goes to a proxy that does not exist. A page that
needs a CDN, a web font or any remote asset therefore renders without it, as it would on an
offline government network. Tests skip, saying why, when chromium is not installed.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

OFFLINE_FLAGS = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking",
                 "--no-first-run", "--disable-component-update"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        pytest.skip("no headless browser: install Debian's chromium (and fonts-noto-cjk) to run the browser tests")
    return path


def _no_network_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def _run(page: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    command = [*_no_network_prefix(), chromium(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", *OFFLINE_FLAGS, *args, Path(page).resolve().as_uri()]
    return subprocess.run(command, capture_output=True, timeout=timeout)


def dom(page: Path) -> str:
    """The page's DOM after its scripts ran, as HTML text (``--dump-dom``), offline."""
    result = _run(page, "--virtual-time-budget=5000", "--dump-dom")
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8")


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    """A PNG of the page as rendered offline."""
    result = _run(page, "--virtual-time-budget=5000", f"--window-size={width},{height}", "--hide-scrollbars",
                  f"--screenshot={Path(png).resolve()}")
    assert result.returncode == 0 and Path(png).is_file(), result.stderr.decode(errors="replace")[-2000:]
    return Path(png)


def visible_text(page: Path) -> str:
    """The text a reader sees (the DOM with tags, scripts and styles removed), offline."""
    import re

    html = dom(page)
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"(?s)<[^>]+>", " ", html)).strip()
