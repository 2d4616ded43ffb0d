"""IPTC Media Topic subjects: the event field, the vendored hierarchy, and filters on a topic and below."""

import json
from pathlib import Path

import pytest

from syndication import subjects
from syndication.errors import InvalidEvent
from syndication.event_schema import json_schema
from syndication.events import parse_event
from syndication.filters import Filters, PartnerFilters
from syndication.text import clean_article

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "events" / "01-published-astana-lrt.json"
POLITICS, ARTS, ANIMATION = "medtop:11000000", "medtop:01000000", "medtop:20000003"


def _event(subject_list) -> dict:
    ev = json.loads(EXAMPLE.read_text())
    ev["article"]["subjects"] = subject_list
    return ev


def _problems(subject_list) -> dict[str, str]:
    with pytest.raises(InvalidEvent) as exc:
        parse_event(_event(subject_list))
    return {p["field"]: p["message"] for p in exc.value.problems}


def test_subjects_are_accepted_with_or_without_a_name():
    event = parse_event(_event([{"qcode": POLITICS, "name": "politics"}, {"qcode": ANIMATION}]))
    assert [(s.qcode, s.name) for s in event.article.subjects] == [(POLITICS, "politics"), (ANIMATION, None)]


@pytest.mark.parametrize("bad, field", [
    ({"qcode": "medtop:1100000"}, "article.subjects.0.qcode"),         # seven digits
    ({"qcode": "subj:11000000"}, "article.subjects.0.qcode"),          # the retired Subject Codes
    ({"qcode": "MEDTOP:11000000"}, "article.subjects.0.qcode"),
    ({"qcode": "medtop:11000000 "}, "article.subjects.0.qcode"),
    ({"name": "politics"}, "article.subjects.0.qcode"),                # no qcode at all
    ({"qcode": POLITICS, "name": ""}, "article.subjects.0.name"),
    ({"qcode": POLITICS, "name": "x" * 201}, "article.subjects.0.name"),
    ({"qcode": 11000000}, "article.subjects.0.qcode"),
    ("medtop:11000000", "article.subjects.0"),                         # a bare string, not an object
])
def test_bad_subjects_are_named(bad, field):
    assert field in _problems([bad])


def test_too_many_subjects_are_refused():
    assert "article.subjects" in _problems([{"qcode": POLITICS}] * 51)


def test_the_published_schema_carries_the_qcode_pattern():
    schema = json.dumps(json_schema())
    assert subjects.QCODE_PATTERN.replace("\\", "\\\\") in schema


def test_stored_subjects_are_plain_text_deduplicated_and_named_from_the_vocabulary():
    article = parse_event(_event([
        {"qcode": POLITICS}, {"qcode": ANIMATION, "name": "<b>Anim&lt;script&gt;</b>"},
        {"qcode": POLITICS, "name": "again"}, {"qcode": "medtop:99999999"},
    ])).article.model_dump(mode="json")
    assert clean_article(article)["subjects"] == [
        {"qcode": POLITICS, "name": "politics"},  # the IPTC's name when the event gave none
        {"qcode": ANIMATION, "name": "Anim"},  # tags out, escaped ones too
        {"qcode": "medtop:99999999"},  # newer than the vendored vocabulary: kept, no name to give
    ]


def test_vocabulary_is_the_whole_iptc_tree():
    assert len(subjects.top_level()) == 17
    assert subjects.name_of(POLITICS) == "politics"
    assert subjects.lineage(ANIMATION) == (ANIMATION, "medtop:20000002", ARTS)
    # campaign finance < political campaigns < election < politics: four levels
    assert subjects.lineage("medtop:20000581") == ("medtop:20000581", "medtop:20000580", "medtop:20000574",
                                                    POLITICS)
    broader, names = subjects._vocabulary()
    assert len(broader) == 1227 and len(names) == 1227  # every concept named
    assert all(subjects.lineage(q)[-1] in subjects.top_level() for q in broader)  # every one reaches the top
    assert subjects.uri(POLITICS) == "http://cv.iptc.org/newscodes/mediatopic/11000000"


def test_a_filter_takes_the_topic_and_everything_below_it():
    arts = Filters(subjects=[ARTS])
    assert arts.matches({"subjects": [{"qcode": ARTS}]})
    assert arts.matches({"subjects": [{"qcode": ANIMATION}]})  # two levels below
    assert arts.matches({"subjects": [{"qcode": POLITICS}, {"qcode": ANIMATION}]})
    assert not arts.matches({"subjects": [{"qcode": POLITICS}]})
    assert not arts.matches({"categories": ["arts"]})  # no subjects: not tagged with the topic
    # A narrower filter does not take the broader topic.
    assert not Filters(subjects=[ANIMATION]).matches({"subjects": [{"qcode": ARTS}]})


def test_subject_filters_combine_with_the_other_fields():
    f = PartnerFilters(subjects=[ARTS], languages=["en"])
    assert f.wants({"language": "en", "subjects": [{"qcode": ANIMATION}]}, [])
    assert not f.wants({"language": "ru", "subjects": [{"qcode": ANIMATION}]}, [])


@pytest.mark.parametrize("qcode, message", [
    ("medtop:99999999", "unknown IPTC Media Topic medtop:99999999"),
    ("politics", "should match pattern"),
])
def test_a_filter_on_an_unknown_or_malformed_topic_is_refused(qcode, message):
    with pytest.raises(ValueError, match=message):
        Filters(subjects=[qcode])


def test_a_looping_vocabulary_cannot_hang_the_lineage(monkeypatch):
    subjects.lineage.cache_clear()
    monkeypatch.setattr(subjects, "_vocabulary",
                        lambda: ({"medtop:00000001": ("medtop:00000002",),
                                  "medtop:00000002": ("medtop:00000001",)}, {}))
    try:
        assert subjects.lineage("medtop:00000001") == ("medtop:00000001", "medtop:00000002")
    finally:
        subjects.lineage.cache_clear()
