"""``platform keys encrypt-datasets``: plaintext dataset files (written the old way) are sealed in place, checked
before and after; a run interrupted (between files, or mid-file leaving a partial file beside) is run again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from adapters.datasets.migration import encrypt_datasets
from adapters.datasets.store import STORED_MODE, DatasetStore, IntegrityError
from interfaces.cli import main
from tests.data_keys import data_keys

TENANTS = ("7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01", "0d7e1c55-2b0a-4c3e-8f6d-1e2a3b4c5d6e")
STAGES = {"raw": ".csv", "gdp": ".parquet", "kpi": ".parquet", "published": ".parquet", "exports": ".json"}


def written_the_old_way(root: Path) -> dict[str, bytes]:
    """Files as the store wrote them before sealing: plaintext at their content-addressed keys, read-only."""
    files: dict[str, bytes] = {}
    for number, tenant in enumerate(TENANTS):
        for stage, suffix in STAGES.items():
            data = f"id,customer_email\n{number},{stage}-{tenant[:4]}@example.com\n".encode() * 3000
            sha = hashlib.sha256(data).hexdigest()
            key = f"{tenant}/{stage}/{sha[:2]}/{sha}{suffix}"
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)
            os.chmod(root / key, STORED_MODE)
            files[key] = data
    return files


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "datasets"


@pytest.fixture
def store(tmp_path: Path, root: Path) -> DatasetStore:
    return DatasetStore.open(str(root), tmp_path / "scratch", data_keys(tmp_path / "keys"))


def test_every_plaintext_file_is_sealed_and_reads_back_the_same(store: DatasetStore, root: Path) -> None:
    files = written_the_old_way(root)
    contract = f"{TENANTS[0]}/blobs/ab/{'a' * 64}.json"  # blobs are not sealed: left alone
    (root / contract).parent.mkdir(parents=True)
    (root / contract).write_bytes(b"{}")
    lines: list[str] = []
    done = encrypt_datasets(store, lines.append)
    assert (done.sealed, done.already) == (len(files), 0)
    assert len(lines) == len(files)
    for key, data in files.items():
        assert b"@example.com" not in (root / key).read_bytes()
        assert store.read_verified(key, hashlib.sha256(data).hexdigest()) == data
        assert (root / key).stat().st_mode & 0o777 == STORED_MODE
    assert (root / contract).read_bytes() == b"{}"
    assert not list(root.rglob(".*.sealing"))


def test_an_interrupted_run_is_resumed_by_running_it_again(store: DatasetStore, root: Path) -> None:
    files = written_the_old_way(root)

    def stop_after_three(line: str) -> None:
        if line.startswith("sealed") and "(3 sealed" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encrypt_datasets(store, stop_after_three)
    # A run killed mid-file leaves a partial file beside the plaintext; the plaintext itself is untouched.
    pending = next(key for key in files if not store.is_sealed(key))
    folder, name = pending.rsplit("/", 1)
    (root / folder / f".{name}.sealing").write_bytes(b"PDSEAL half written")
    os.chmod(root / folder / f".{name}.sealing", STORED_MODE)

    done = encrypt_datasets(store, lambda line: None)
    assert (done.sealed, done.already) == (len(files) - 3, 3)
    assert encrypt_datasets(store, lambda line: None).already == len(files)
    for key, data in files.items():
        assert store.read_verified(key, hashlib.sha256(data).hexdigest()) == data
    assert not list(root.rglob(".*.sealing"))


def test_a_file_whose_content_does_not_match_its_name_stops_the_run_untouched(store: DatasetStore, root: Path) -> None:
    files = written_the_old_way(root)
    damaged = sorted(files)[0]
    os.chmod(root / damaged, 0o640)
    (root / damaged).write_bytes(b"altered")
    with pytest.raises(IntegrityError, match="SHA-256"):
        encrypt_datasets(store, lambda line: None)
    assert (root / damaged).read_bytes() == b"altered"


def test_the_command_prints_progress_and_a_summary_and_fails_in_one_line(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = written_the_old_way(root)
    monkeypatch.setenv("PLATFORM_DATASETS", str(root))
    monkeypatch.setenv("PLATFORM_SCRATCH_DIR", str(tmp_path / "scratch"))
    monkeypatch.setenv("PLATFORM_KEYS_DIR", str(tmp_path / "keys"))
    assert main(["keys", "encrypt-datasets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("sealed ") for line in out) == len(files)
    assert out[-1] == f"{len(files)} dataset files sealed, 0 already sealed"
    assert main(["keys", "encrypt-datasets"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"0 dataset files sealed, {len(files)} already sealed"]

    stray = f"{TENANTS[0]}/raw/zz/not-a-hash.csv"
    (root / stray).parent.mkdir(parents=True)
    (root / stray).write_bytes(b"id\n1\n")
    assert main(["keys", "encrypt-datasets"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"platform keys: {stray} is not named by its SHA-256")
