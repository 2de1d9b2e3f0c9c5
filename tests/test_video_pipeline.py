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


def test_write_behind_writes_in_order_and_waits():
    from dpimage.video.pipeline import WriteBehind

    written = []
    with WriteBehind(written.append, depth=2) as out:
        for i in range(50):
            out.put(i)
    assert written == list(range(50))


def test_write_behind_raises_the_writers_error():
    from dpimage.video.pipeline import WriteBehind

    def write(item):
        if item == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with WriteBehind(write) as out:
            for i in range(100):
                out.put(i)


def test_write_behind_stops_on_the_callers_error():
    from dpimage.video.pipeline import WriteBehind

    written = []
    with pytest.raises(KeyError):
        with WriteBehind(written.append, depth=1) as out:
            out.put(0)
            raise KeyError("caller failed")
    assert len(written) <= 1
