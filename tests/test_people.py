"""``--people``: HOG's false boxes (lamp post, tripods, doors, boxes over groups) are cut
by a score floor and by dropping a box that holds a stronger one; measured against boxes
labelled by hand on PETS-2009 frames (``benchmarks/bench_people.py``)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from dpimage import datasets
from dpimage.regions import RegionSpec
from dpimage.regions.detectors import PEOPLE_MIN_SCORE, filter_people

LABELS = Path(__file__).parent.parent / "benchmarks" / "data" / "pets_people_boxes.csv"


def test_filter_people_keeps_scored_boxes_and_drops_enclosing_ones():
    person, group, post = (10, 10, 30, 60), (0, 0, 80, 120), (100, 0, 120, 50)
    scored = [(person, 3.0), (group, 1.2), (post, 0.4)]
    assert filter_people(scored, 0.0, False) == scored
    assert filter_people(scored, 1.0, False) == [(person, 3.0), (group, 1.2)]
    assert filter_people(scored, 1.0, True) == [(person, 3.0)]
    # a box around a *weaker* one stays (the stronger box is the person)
    assert filter_people([(person, 0.5), (group, 2.0)], 0.0, True) == [(person, 0.5),
                                                                      (group, 2.0)]


def test_region_mode_runs_the_filtered_detector_and_names_it():
    detector = RegionSpec("people").detector()
    assert detector.min_score == PEOPLE_MIN_SCORE and detector.drop_enclosing
    assert "score >= 1" in detector.name and "higher-scoring" in detector.name
    assert RegionSpec("people").describe()["detector"] == detector.name


@pytest.mark.needs_vtest
def test_people_precision_and_recall_on_labelled_frames():
    labels = defaultdict(list)
    for r in csv.DictReader(LABELS.open()):
        x, y, w, h = (int(r[k]) for k in "xywh")
        labels[int(r["video_frame"])].append(((x, y, x + w, y + h), int(r["people"])))
    frames = datasets.street_frames(step=8)
    detector = RegionSpec("people").detector()
    boxes = true = 0
    for vf, labelled in labels.items():
        for box in detector(frames[vf // 8]):
            # a box of the filtered detector is one plain HOG found and was labelled; a box
            # no label matches counts as false
            people = [p for lab, p in labelled if np.allclose(lab, box)]
            boxes += 1
            true += bool(people) and people[0] > 0
    covered_all = sum(p for rows in labels.values() for _, p in rows)
    # OpenCV's HOG is not bit-stable across thread counts (476 boxes on these frames with
    # 1 or 2 threads, 478 with 8): a box or two near the score floor may come and go, so
    # the bounds leave that margin. Plain HOG: 109 boxes, 55 true; the filter here: 57, 54.
    assert 0 < boxes <= 62 and true / boxes >= 0.9
    assert true >= 51 and covered_all >= 61
