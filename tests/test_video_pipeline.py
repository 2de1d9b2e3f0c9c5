"""The read-ahead thread keeps order, exceptions and early stops of the frame source."""

import pytest

from dpimage.video.pipeline import read_ahead


def test_order_and_end_are_kept():
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))
    assert list(read_ahead([])) == []


def test_an_exception_arrives_where_it_happened():
    def source():
        yield 1
        yield 2
        raise ValueError("damaged at 3")

    got = []
    with pytest.raises(ValueError, match="damaged at 3"):
        for item in read_ahead(source()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_source():
    closed = []

    def source():
        try:
            yield from range(10**9)
        finally:
            closed.append(True)

    stream = read_ahead(source(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert closed == [True]
