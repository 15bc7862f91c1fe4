"""A job's log: lenient decoding, masked secrets (also when a secret arrives in two
pieces), a size cap that never stops the job, and readers following the file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from andon.pipeline import LogSink, follow_log, mask

NOTICE = "… log truncated after 1 KiB; the job keeps running and is judged by its exit code\n"


def written(path: Path, *chunks: bytes, secrets: tuple[str, ...] = ()) -> str:
    with LogSink(path, secrets=secrets) as sink:
        for chunk in chunks:
            sink.write(chunk)
    return path.read_text("utf-8")


def test_output_is_written_line_by_line_as_it_arrives(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    sink = LogSink(path)

    sink.write(b"first line\nsecond ")
    assert path.read_text() == "first line\n"
    sink.write(b"line\n")
    assert path.read_text() == "first line\nsecond line\n"
    sink.close()


def test_bytes_that_are_not_utf8_become_replacement_characters(tmp_path: Path) -> None:
    text = written(tmp_path / "job.log", b"caf\xe9 \xff\xfe ok\n")

    assert text == "caf\ufffd \ufffd\ufffd ok\n"


def test_a_character_split_between_reads_is_decoded_whole(tmp_path: Path) -> None:
    euro = "€".encode()

    assert written(tmp_path / "job.log", b"price: " + euro[:1], euro[1:] + b"5\n") == "price: €5\n"


def test_secrets_are_masked(tmp_path: Path) -> None:
    text = written(tmp_path / "job.log", b"token=hunter22 user=ada\n", secrets=("hunter22",))

    assert text == "token=*** user=ada\n"


def test_a_secret_split_between_reads_is_masked(tmp_path: Path) -> None:
    text = written(tmp_path / "job.log", b"token=hun", b"ter", b"22 done\n", secrets=("hunter22",))

    assert text == "token=*** done\n"


def test_a_last_line_without_newline_is_written_and_masked_on_close(tmp_path: Path) -> None:
    assert written(tmp_path / "job.log", b"bye hunter22", secrets=("hunter22",)) == "bye ***\n"


def test_values_shorter_than_three_characters_are_not_masked() -> None:
    assert mask("a=1 ab=12 abc=123", ["1", "12", "123", ""]) == "a=1 ab=12 abc=***"


def test_a_secret_of_several_lines_is_masked_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"

    assert mask(f"key is\n{key}\nthere", [key]) == "key is\n***\n***\n***\nthere"


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    assert mask("pass=secret-extra", ["secret", "secret-extra"]) == "pass=***"


def test_a_very_long_line_is_written_in_pieces_without_leaking_a_secret(tmp_path: Path) -> None:
    secret = "s3cr3t-value"
    # The line outgrows what is held back while only the secret's start has arrived.
    start = b"x" * (64 * 1024 + 10) + b"s3cr3t"

    text = written(tmp_path / "job.log", start, b"-value" + b"y" * 10 + b"\n", secrets=(secret,))

    assert text == "x" * (64 * 1024 + 10) + "***" + "y" * 10 + "\n"


def test_the_log_is_capped_with_one_line_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    line = b"0123456789" * 10 + b"\n"
    with LogSink(path, max_bytes=1024) as sink:
        for _ in range(100):
            sink.write(line)

    text = path.read_text()
    kept, notice = text[: -len(NOTICE)], text[-len(NOTICE) :]
    assert notice == NOTICE
    assert kept == line.decode() * 10
    assert sink.truncated
    assert sink.bytes_discarded == 90 * len(line)


def test_notes_end_a_partial_line_and_are_written_past_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    with LogSink(path, max_bytes=1024, secrets=("hunter22",)) as sink:
        sink.write(b"progress 50%")
        sink.note("attempt 1 failed; retrying with hunter22")
        sink.write(b"z" * 2000 + b"\n")
        sink.note("warning: no report")

    assert path.read_text() == (
        "progress 50%\n"
        "andon: attempt 1 failed; retrying with ***\n" + NOTICE + "andon: warning: no report\n"
    )


def test_a_reader_follows_the_log_until_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "job.log"

    async def scenario() -> list[str]:
        sink = LogSink(path)
        seen: list[str] = []

        async def read() -> None:
            async for text in sink.follow(poll_interval=0.01):
                seen.append(text)

        reader = asyncio.create_task(read())
        for number in range(3):
            sink.write(f"line {number}\n".encode())
            await asyncio.sleep(0.03)
        sink.close()
        await asyncio.wait_for(reader, 5)
        return seen

    seen = asyncio.run(scenario())

    assert "".join(seen) == "line 0\nline 1\nline 2\n"
    assert len(seen) >= 2, "the reader saw the log only at the end"


def test_following_a_log_from_an_offset_and_before_it_exists(tmp_path: Path) -> None:
    path = tmp_path / "job.log"

    async def collect(offset: int) -> str:
        return "".join([t async for t in follow_log(path, finished=lambda: True, offset=offset)])

    assert asyncio.run(collect(0)) == ""
    path.write_text("hello\nworld\n")
    assert asyncio.run(collect(6)) == "world\n"
