"""The embedded default's generated encryption key (no STEWARD_SECRET_KEY): several app workers that start at
once and encrypt their first TOTP secret at the same moment must all end up with the one key in the file,
or secrets enrolled through one worker could not be read by the others (or after a restart)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from cryptography.fernet import Fernet

WORKERS = 8


def _first_encryption(path: str, barrier, out) -> None:
    os.environ.pop("STEWARD_SECRET_KEY", None)
    os.environ["STEWARD_SECRET_KEY_FILE"] = path
    from services.core import crypto

    crypto._fernet.cache_clear()  # a forked child inherits the parent's cached key
    barrier.wait()
    try:
        out.put(crypto.encrypt("JBSWY3DPEHPK3PXP"))
    except Exception as e:  # noqa: BLE001 - reported to the test
        out.put(f"error: {e!r}")


def test_workers_racing_to_create_the_key_share_one(tmp_path: Path):
    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "keys" / "secret.key"
    for _round in range(5):  # a few rounds: the race needs the processes to meet at the same instant
        if path.exists():
            path.unlink()
        barrier, out = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_first_encryption, args=(str(path), barrier, out)) for _ in range(WORKERS)]
        for p in procs:
            p.start()
        tokens = [out.get(timeout=60) for _ in procs]
        assert not [t for t in tokens if t.startswith("error")], tokens
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        key = Fernet(path.read_text().strip().encode())
        assert [key.decrypt(t.encode()).decode() for t in tokens] == ["JBSWY3DPEHPK3PXP"] * WORKERS
        assert oct(path.stat().st_mode & 0o777) == oct(0o600)
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary files left behind
