"""Checksums against published vectors: FIPS 180-2 (sha256), xxHash's sanity table (XXH3)."""

from __future__ import annotations

import pytest

from blobcodec.checksum import (
    Sha256,
    Xxh3_64,
    Xxh3_128,
    parse_sha256_tag,
    sha256_hex,
    sha256_tag,
    verify_sha256_tag,
    xxh3_64,
    xxh3_128,
)
from blobcodec.errors import ChecksumMismatchError

# FIPS 180-2, Appendix B.1 and B.2.
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
TWO_BLOCK_MESSAGE = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
TWO_BLOCK_SHA256 = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"

PRIME32 = 2654435761
PRIME64 = 11400714785074694797

# xxHash cli/xsum_sanity_check.c: XSUM_XXH3_testdata and XSUM_XXH128_testdata, seed 0.
XXH3_64_VECTORS = [
    (0, 0x2D06800538D394C2),
    (1, 0xC44BDFF4074EECDB),
    (6, 0x27B56A84CD2D7325),
    (12, 0xA713DAF0DFBB77E7),
    (24, 0xA3FE70BF9D3510EB),
    (48, 0x397DA259ECBA1F11),
    (80, 0xBCDEFBBB2C47C90A),
    (195, 0xCD94217EE362EC3A),
    (403, 0xCDEB804D65C6DEA4),
    (512, 0x617E49599013CB6B),
    (2048, 0xDD59E2C3A5F038E0),
    (2240, 0x6E73A90539CF2948),
    (2367, 0xCB37AEB9E5D361ED),
]
# (length, low 64 bits, high 64 bits)
XXH3_128_VECTORS = [
    (0, 0x6001C324468D497F, 0x99AA06D3014798D8),
    (1, 0xC44BDFF4074EECDB, 0xA6CD5E9392000F6A),
    (6, 0x3E7039BDDA43CFC6, 0x082AFE0B8162D12A),
    (12, 0x061A192713F69AD9, 0x6E3EFD8FC7802B18),
    (24, 0x1E7044D28B1B901D, 0x0CE966E4678D3761),
    (48, 0xF942219AED80F67B, 0xA002AC4E5478227E),
    (81, 0x5E8BAFB9F95FB803, 0x4952F58181AB0042),
    (222, 0xF1AEBD597CEC6B3A, 0x337E09641B948717),
    (403, 0xCDEB804D65C6DEA4, 0x1B6DE21E332DD73D),
    (512, 0x617E49599013CB6B, 0x18D2D110DCC9BCA1),
    (2048, 0xDD59E2C3A5F038E0, 0xF736557FD47073A5),
    (2240, 0x6E73A90539CF2948, 0xCCB134FBFA7CE49D),
    (2367, 0xCB37AEB9E5D361ED, 0xE89C0F6FF369B427),
]


def sanity_buffer(length: int) -> bytes:
    """xxHash's XSUM_fillTestBuffer: the top byte of a multiplicative generator."""
    out = bytearray(length)
    generator = PRIME32
    for i in range(length):
        out[i] = generator >> 56
        generator = (generator * PRIME64) % (1 << 64)
    return bytes(out)


def test_sha256_of_abc_is_the_fips_180_2_value() -> None:
    assert sha256_hex(b"abc") == ABC_SHA256
    assert sha256_tag(b"abc") == "sha256:" + ABC_SHA256


def test_streaming_sha256_over_the_two_block_message() -> None:
    hasher = Sha256()
    for i in range(0, len(TWO_BLOCK_MESSAGE), 5):
        hasher.update(TWO_BLOCK_MESSAGE[i : i + 5])
    assert hasher.hexdigest() == TWO_BLOCK_SHA256
    assert hasher.tag() == "sha256:" + TWO_BLOCK_SHA256


def test_sha256_accepts_memoryview_and_bytearray() -> None:
    assert sha256_hex(memoryview(b"xabcx")[1:4]) == ABC_SHA256
    assert sha256_tag(bytearray(b"abc")) == "sha256:" + ABC_SHA256


def test_parse_sha256_tag() -> None:
    assert parse_sha256_tag("sha256:" + ABC_SHA256) == ABC_SHA256
    for bad in ("sha256:" + ABC_SHA256.upper(), ABC_SHA256, "sha256:" + ABC_SHA256[:-1], "md5:ab"):
        with pytest.raises(ValueError, match="sha256"):
            parse_sha256_tag(bad)


def test_verify_sha256_tag_raises_on_mismatch_naming_what() -> None:
    verify_sha256_tag(b"abc", "sha256:" + ABC_SHA256)
    with pytest.raises(ChecksumMismatchError, match=r"data/file\.dat: sha256 is "):
        verify_sha256_tag(b"abd", "sha256:" + ABC_SHA256, what="data/file.dat")


@pytest.mark.parametrize(("length", "expected"), XXH3_64_VECTORS)
def test_xxh3_64_sanity_vectors(length: int, expected: int) -> None:
    data = sanity_buffer(length)
    assert xxh3_64(data) == expected
    hasher = Xxh3_64()
    for i in range(0, length, 7):
        hasher.update(data[i : i + 7])
    assert hasher.intdigest() == expected
    assert hasher.hexdigest() == f"{expected:016x}"


@pytest.mark.parametrize(("length", "low", "high"), XXH3_128_VECTORS)
def test_xxh3_128_sanity_vectors(length: int, low: int, high: int) -> None:
    data = sanity_buffer(length)
    expected = (high << 64) | low
    assert xxh3_128(data) == expected
    hasher = Xxh3_128()
    for i in range(0, length, 13):
        hasher.update(data[i : i + 13])
    assert hasher.intdigest() == expected
    assert hasher.hexdigest() == f"{expected:032x}"
