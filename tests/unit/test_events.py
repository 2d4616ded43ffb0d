"""Event schema: the project's examples validate; bad fields are named."""

import json
from pathlib import Path

import jsonschema
import pytest

from syndication.errors import InvalidEvent
from syndication.event_schema import json_schema
from syndication.events import parse_event

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "events").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate(path):
    event = parse_event(path.read_bytes())
    assert event.article.version >= 1


def _problems(data) -> dict:
    with pytest.raises(InvalidEvent) as exc:
        parse_event(json.dumps(data) if not isinstance(data, bytes) else data)
    return {p["field"]: p["message"] for p in exc.value.problems}


def _ev():
    return json.loads(EXAMPLES[0].read_text())


def test_naive_datetime_rejected():
    ev = _ev()
    ev["article"]["published_at"] = "2026-01-01T10:00:00"
    assert "with a zone" in _problems(ev)["article.published_at"]


def test_bool_is_not_a_version():
    ev = _ev()
    ev["article"]["version"] = True
    assert "article.version" in _problems(ev)


def test_bad_event_id_and_language():
    ev = _ev()
    ev["event_id"] = "has spaces"
    ev["article"]["language"] = "English"
    probs = _problems(ev)
    assert set(probs) == {"event_id", "article.language"}


def test_missing_type():
    ev = _ev()
    del ev["type"]
    assert "expected one of" in _problems(ev)["type"]


def test_withdrawal_needs_only_id_and_version():
    ev = parse_event({"event_id": "w1", "type": "article.withdrawn", "occurred_at": "2026-01-01T00:00:00Z",
                      "article": {"id": "a", "version": 3}})
    assert ev.article.version == 3


def test_non_utf8_body_is_invalid_json():
    assert "(body)" in _problems(b"\xff\xfe{")


def test_json_schema_is_draft_2020_and_covers_types():
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    types = set()
    for path in EXAMPLES:  # the schema accepts what the service accepts...
        doc = json.loads(path.read_text())
        validator.validate(doc)
        types.add(doc["type"])
    assert types == {"article.published", "article.updated", "article.withdrawn"}
    bad = {**_ev(), "type": "article.deleted"}  # ...and refuses what it refuses
    assert list(validator.iter_errors(bad))


def _update(**article):
    ev = json.loads(EXAMPLES[1].read_text())
    assert ev["type"] == "article.updated"
    ev["article"].update(article)
    return ev


def test_a_correction_is_an_update_with_an_optional_note_and_stored_only_when_present():
    dumped = json.loads(parse_event(_update(correction={"note": "Fixes the date."})).model_dump_json())
    assert dumped["article"]["correction"] == {"note": "Fixes the date."}
    assert json.loads(parse_event(_update(correction={})).model_dump_json())["article"]["correction"] == \
        {"note": None}
    for plain in (_update(), _update(correction=None), _ev()):  # no key at all, not `"correction": null`
        assert "correction" not in json.loads(parse_event(plain).model_dump_json())["article"]
    validator = jsonschema.Draft202012Validator(json_schema())
    validator.validate(_update(correction={"note": "Fixes the date."}))
    assert list(validator.iter_errors(_update(correction=True)))


@pytest.mark.parametrize("value, field, words", [
    (True, "article.correction", "must be an object"),
    ("fixed the date", "article.correction", "must be an object"),
    ({"note": ""}, "article.correction.note", "at least 1"),
    ({"note": 7}, "article.correction.note", "string"),
    ({"note": "x" * 2001}, "article.correction.note", "at most 2000"),
])
def test_a_bad_correction_is_refused_naming_the_field(value, field, words):
    assert words in _problems(_update(correction=value))[field]


def test_a_published_event_cannot_be_a_correction():
    ev = _ev()
    assert ev["type"] == "article.published"
    ev["article"]["correction"] = {"note": "Fixes the date."}
    assert "only an article.updated event" in _problems(ev)["article.correction"]
