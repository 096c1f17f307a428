"""What every interop test needs: the quiver binary, and `quiver serve`
running on a free loopback port over a temporary data directory."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_binary():
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("QUIVER_BIN"):
        return os.environ["QUIVER_BIN"]
    for profile in ("debug", "release"):
        path = os.path.join(REPO, "target", profile, "quiver")
        if os.path.exists(path):
            return path
    raise SystemExit("no quiver binary: run `cargo build -p quiver-cli` first")


class Server:
    """`quiver serve` on a free loopback port over a temporary data dir."""

    def __init__(self, binary, *extra):
        self.dir = tempfile.mkdtemp(prefix="quiver-interop-")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", os.path.join(self.dir, "db"), "--host", "127.0.0.1", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "QUIVER_LOG": "warn"},
        )
        line = self._read_line(timeout=60)
        match = re.search(r"listening on (https?://[0-9.]+:\d+)", line or "")
        if not match:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = match.group(1)

    def _read_line(self, timeout):
        box = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        return box[0] if box else None

    def stop(self):
        """SIGTERM, then wait: the server must exit 0 after flushing."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode
