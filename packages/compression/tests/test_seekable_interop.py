"""Seekable archives against stock tools: ``zstd -d`` and ``tar --zstd`` read them as plain streams,
and a file the ``zstd`` program wrote is refused as not seekable."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import tarfile
from pathlib import Path
from typing import IO, cast

import pytest

from blobcodec.errors import SeekTableError
from blobcodec.seekable import ReadAt, SeekableReader, SeekableWriter


def mixed_data(size: int) -> bytes:
    """Half text-like, half random: both compressible and incompressible frames."""
    rng = random.Random(11)
    text = b" ".join(b"word%d" % rng.randrange(5000) for _ in range(size // 12))
    return (text[: size // 2] + rng.randbytes(size - size // 2))[:size]


@pytest.mark.parametrize("checksums", [True, False])
def test_zstd_cli_decodes_the_archive_as_one_stream(tmp_path: Path, checksums: bool) -> None:
    data = mixed_data(700_000)
    archive = tmp_path / "data.zst"
    with (
        archive.open("wb") as out,
        SeekableWriter(out, frame_size=64 * 1024, checksums=checksums) as writer,
    ):
        writer.write(data)
    decoded = subprocess.run(
        ["/usr/bin/zstd", "-d", "-c", str(archive)], capture_output=True, check=True
    ).stdout
    assert decoded == data
    subprocess.run(["/usr/bin/zstd", "-t", "-q", str(archive)], check=True)


def test_tar_extracts_a_pax_tar_written_through_the_writer(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "nested" / "deeper").mkdir(parents=True)
    files = {
        "small.txt": b"hello\n",
        "empty": b"",
        "nested/big.bin": mixed_data(300_000),
        "nested/deeper/" + "n" * 120 + ".txt": b"long name\n",  # needs a pax path record
        "nested/caf\u00e9.txt": b"utf-8 name\n",
    }
    for name, content in files.items():
        (source / name).write_bytes(content)
    (source / "link").symlink_to("small.txt")

    archive = tmp_path / "a.tar.zst"
    with (
        archive.open("wb") as out,
        SeekableWriter(out, frame_size=50_000) as writer,
        # typeshed asks tarfile's file objects for read/seek too; stream mode "w|" only writes.
        tarfile.open(fileobj=cast(IO[bytes], writer), mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.add(source, arcname="source")
    assert writer.frames_written > 5

    target = tmp_path / "out"
    target.mkdir()
    subprocess.run(
        ["/usr/bin/tar", "--zstd", "-xf", str(archive), "-C", str(target)],
        check=True,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    for name, content in files.items():
        extracted = (target / "source" / name).read_bytes()
        assert hashlib.sha256(extracted).digest() == hashlib.sha256(content).digest(), name
    assert os.readlink(target / "source" / "link") == "small.txt"

    reader = SeekableReader(_file_read_at(archive), archive.stat().st_size)
    with tarfile.open(fileobj=io.BytesIO(reader.read(0, reader.size))) as tar:
        member = tar.getmember("source/nested/big.bin")
    assert reader.read(member.offset_data, member.size) == files["nested/big.bin"]


def test_file_from_zstd_cli_is_not_seekable(tmp_path: Path) -> None:
    plain = tmp_path / "plain.zst"
    plain.write_bytes(mixed_data(10_000))
    subprocess.run(["/usr/bin/zstd", "-q", "-f", str(plain), "-o", str(plain) + ".zst"], check=True)
    compressed = Path(str(plain) + ".zst")
    with pytest.raises(SeekTableError, match="not a seekable zstd archive") as caught:
        SeekableReader(_file_read_at(compressed), compressed.stat().st_size)
    assert "zstd command" in str(caught.value)


def _file_read_at(path: Path) -> ReadAt:
    def read_at(offset: int, size: int) -> bytes:
        with path.open("rb") as file:
            return os.pread(file.fileno(), size, offset)

    return read_at
