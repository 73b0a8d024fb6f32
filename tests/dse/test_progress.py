"""The progress bar: count, rate and ETA on a terminal, nothing elsewhere."""

from __future__ import annotations

import io

from archsim.dse.progress import ProgressBar, format_duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_count_rate_and_eta_on_a_terminal():
    clock, stream = Clock(), Terminal()
    bar = ProgressBar(10, stream, label="s", clock=clock, min_interval_s=0, width=10)
    bar.advance(2, simulated=False, cached=True)
    assert "2/10 points" in bar.line() and "ETA --:--" in bar.line() and "(2 cached)" in bar.line()
    clock.now += 4
    bar.advance(2)  # 2 simulated in 4 s: 0.5/s, 6 left -> 12 s
    assert bar.line() == "s [####------] 4/10 points  0.5/s  ETA 0:12  (2 cached)"
    clock.now += 2
    bar.advance(6, failed=True)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert "10/10 points" in text and "(2 cached, 6 failed)" in text


def test_redraws_are_rate_limited():
    clock, stream = Clock(), Terminal()
    bar = ProgressBar(1000, stream, clock=clock, min_interval_s=1.0)
    for _ in range(100):
        bar.advance()
    assert stream.getvalue().count("\r") == 1
    clock.now += 1.5
    bar.advance()
    assert stream.getvalue().count("\r") == 2


def test_silent_unless_a_terminal():
    for stream in (io.StringIO(), None):
        bar = ProgressBar(3, stream)
        bar.advance(3)
        bar.close()
        assert not bar.enabled
    quiet = io.StringIO()
    ProgressBar(1, quiet).advance()
    assert quiet.getvalue() == ""
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert not ProgressBar(1, closed).enabled


def test_durations():
    assert [format_duration(s) for s in (0, 42.4, 725, 10931)] == [
        "0:00",
        "0:42",
        "12:05",
        "3:02:11",
    ]


def test_the_line_fits_a_narrow_terminal_and_leaves_no_stale_text():
    """On a 40-column terminal the line never reaches the last column (it would wrap): the
    bar shrinks to 5 characters, then the text is cut; a shorter redraw pads over the old."""
    clock, stream = Clock(), Terminal()
    bar = ProgressBar(1000, stream, label="lenet_adc_xbar", clock=clock, min_interval_s=0,
                      columns=40)
    for columns in (40, 60, 80, 120):
        assert len(bar.line(columns)) <= columns - 1
    assert bar.line(40).startswith("lenet_adc_xbar [-----] 0/1000 points")
    clock.now += 1
    bar.advance(999, cached=True, failed=True)  # the longest notes
    widths = [len(segment) for segment in stream.getvalue().split("\r") if segment]
    assert widths and max(widths) <= 39
    bar.advance(1)
    last = stream.getvalue().split("\r")[-1]
    assert len(last) == max(widths)  # padded over the longer line before it
