"""A district's areas and categories from its init: areas that share a name are refused, a name
of two areas in an older config is asked about (or refused with no terminal), and categories come
from --categories (Srinagar's only with Srinagar's shipped areas); functions first, then the CLI."""

import csv
import tomllib
from pathlib import Path

import pytest

from conftest import NOW, file_bytes
from helpline_core import officers, tickets
from helpline_core.config import DEFAULT_CATEGORIES, load_config, render_config, write_config_text
from helpline_core.district import init_district, read_areas_csv, read_categories_csv
from helpline_core.errors import AmbiguousName, InvalidValue, NotFound
from helpline_core.names import spellings
from helpline_core.store import Store
from conftest import on_terminal

REPO = Path(__file__).resolve().parents[1]
SHIPPED_AREAS = REPO / "data" / "areas.csv"
SHIPPED_CATEGORIES = REPO / "data" / "categories.csv"
BOSTON_AREAS = REPO / "data" / "samples" / "boston_areas.csv"

# the two rows of the Srinagar list as it shipped before: "Chanapora" is an alternative name of
# both, "Channapora" the name of one and an alternative name of the other
OLD_ROWS = ("tehsil,Chanapora/Natipora,Chanapora;Channapora;Natipora,Srinagar,https://en.wikipedia.org/wiki/Srinagar_district\n"
            "assembly_constituency,Channapora,Chanapora,Srinagar,https://en.wikipedia.org/wiki/Srinagar_district\n")
OLD_AREAS = [{"name": "Khanyar", "alt_names": ["Khanyaar"]},
             {"name": "Chanapora/Natipora", "alt_names": ["Chanapora", "Channapora", "Natipora"]},
             {"name": "Channapora", "alt_names": ["Chanapora"]}]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Areas: refused at init ---------------------------------------------------------------------


@pytest.mark.parametrize("text, spelling, first, second", [
    ("name,alt_names\nKhanyar,\n" + "Chanapora/Natipora,Chanapora;Natipora\nChannapora,Chanapora\n",
     "Chanapora", "Chanapora/Natipora", "Channapora"),  # an alternative name of two areas
    ("name,alt_names\nChanapora/Natipora,Channapora;Natipora\nChannapora,\n",
     "Channapora", "Chanapora/Natipora", "Channapora"),  # one's alternative name, the other's name
    ("name,alt_names\nBack Bay,\nFenway,back  BAY\n", "Back Bay", "Back Bay", "Fenway"),  # case and spacing too
])
def test_a_name_of_two_areas_is_refused_naming_it_and_both_areas(tmp_path, text, spelling, first, second):
    with pytest.raises(InvalidValue) as error:
        read_areas_csv(write(tmp_path, "areas.csv", text))
    message = str(error.value)
    assert f"'{spelling}' belongs to two areas, '{first}' and '{second}'" in message and "\n" not in message


def test_rows_of_one_name_are_one_area_with_their_alternative_names_merged(tmp_path):
    path = write(tmp_path, "areas.csv", "area_type,name,alt_names\ntehsil,Eidgah,Idgah\n"
                                        "assembly_constituency,eidgah ,Eid Gah;idgah\nblock,Harwan,\n")
    assert read_areas_csv(path) == [{"name": "Eidgah", "alt_names": ["Idgah", "Eid Gah"]},
                                    {"name": "Harwan", "alt_names": []}]


def test_the_shipped_srinagar_list_has_no_name_of_two_areas_and_keeps_its_sources():
    areas = read_areas_csv(SHIPPED_AREAS)
    assert all(len(names) == 1 for names in spellings(areas).values())
    by_name = {a["name"]: a["alt_names"] for a in areas}
    assert by_name["Chanapora/Natipora"] == ["Natipora"] and by_name["Channapora"] == []
    assert by_name["Central Shalteng"] == ["Shalteng"]  # the tehsil and the constituency: one area
    with open(SHIPPED_AREAS, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["source"].startswith("https://") for r in rows)


def test_cli_init_refuses_an_areas_file_with_a_name_of_two_areas_and_creates_nothing(run_cli, data_dir, tmp_path):
    old = SHIPPED_AREAS.read_text(encoding="utf-8").splitlines(keepends=True)[:1] + [OLD_ROWS]
    path = write(tmp_path, "old_areas.csv", "".join(old))
    err = run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar", "--areas", str(path)],
                  expect=1).stderr
    assert err == (f"Error: {path}: 'Chanapora' belongs to two areas, 'Chanapora/Natipora' and 'Channapora'; "
                   f"keep it as the name or alternative name of one area only.\n")
    assert not data_dir.exists()
    out = run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"]).stdout  # the shipped list works
    assert "(18 areas, categories: ration, medicine, doctor, counselling, other)" in out


# Areas: a name of two areas in a config written before ------------------------------------------


@pytest.fixture
def older(data_dir):
    """A Srinagar district whose config.toml (written before init refused it) has names of two areas."""
    init_district(data_dir, code="SXR", name="Srinagar")
    write_config_text(data_dir, render_config("SXR", "Srinagar", "Asia/Kolkata", DEFAULT_CATEGORIES, OLD_AREAS))
    return load_config(data_dir), Store(data_dir)


def test_resolving_a_name_of_two_areas_raises_with_both_and_an_exact_name_is_kept(older):
    config, store = older
    with pytest.raises(AmbiguousName) as error:
        config.area(" chanapora ")
    assert error.value.candidates == ["Chanapora/Natipora", "Channapora"]
    assert str(error.value) == ("area ' chanapora ' is ambiguous: it names 'Chanapora/Natipora' and 'Channapora'; "
                                "type the full name of one.")
    with pytest.raises(AmbiguousName) as full:
        config.area("channapora")  # one's name, the other's alternative name
    assert str(full.value) == ("area 'channapora' is ambiguous: it names 'Chanapora/Natipora' and 'Channapora'; "
                               "'Channapora' is also an alternative name of 'Chanapora/Natipora': remove it from the "
                               "alt_names of 'Chanapora/Natipora' in config.toml, or run the command at a terminal "
                               "to be asked which.")
    assert config.area("natipora") == "Chanapora/Natipora" and config.area("khanyaar") == "Khanyar"
    assert config.area("Channapora", canonical=True) == "Channapora"  # a name a command has resolved
    with pytest.raises(NotFound) as near:
        config.area("Chanapor")
    assert "did you mean" in str(near.value) and not isinstance(near.value, AmbiguousName)
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone="9876543210", area="Channapora", category="ration",
                                     actor="op", now=NOW)
        with pytest.raises(AmbiguousName):
            tickets.log_call(db, config, store, phone="9876500001", area="chanapora", category="ration",
                             actor="op", now=NOW)
        officer = officers.add_officer(db, config, "meena", name="Meena", phone="09419000104",
                                       areas=["Chanapora/Natipora"], categories=["ration"], actor="op", now=NOW)
    assert ticket["area"] == "Channapora" and officer["areas"] == ["Chanapora/Natipora"]


@pytest.mark.parametrize("args", [
    ["log", "--phone", "09876543210", "--area", "Chanapora", "--category", "ration"],
    ["list", "--area", "chanapora"],
    ["officer", "add", "meena", "--name", "Meena", "--phone", "09419000104", "--area", "Khanyar",
     "--area", "CHANAPORA", "--category", "ration"],
])
def test_cli_without_a_terminal_a_name_of_two_areas_fails_listing_them(older, run_cli, data_dir, args):
    before = file_bytes(data_dir)
    err = run_cli(args, expect=1).stderr
    assert err.startswith("Error: area '") and err.count("\n") == 1
    assert "is ambiguous: it names 'Chanapora/Natipora' and 'Channapora'; type the full name of one." in err
    assert file_bytes(data_dir) == before


def test_cli_without_a_terminal_a_full_name_that_is_another_areas_alternative_says_how_to_use_it(older, run_cli,
                                                                                                   data_dir):
    args = ["log", "--phone", "09876543210", "--area", "Channapora", "--category", "ration"]
    before = file_bytes(data_dir)
    err = run_cli(args, expect=1).stderr
    assert err.count("\n") == 1 and "type the full name of one" not in err  # typing it again would fail again
    assert "remove it from the alt_names of 'Chanapora/Natipora' in config.toml" in err
    assert file_bytes(data_dir) == before
    path = data_dir / "config.toml"  # done as the message says, the full name leads to its area
    path.write_text(path.read_text(encoding="utf-8").replace('"Chanapora", "Channapora", "Natipora"',
                                                             '"Chanapora", "Natipora"'), encoding="utf-8")
    run_cli(args)
    assert run_cli(["list", "--json"], as_json=True)[0]["area"] == "Channapora"


def test_cli_at_a_terminal_a_name_of_two_areas_asks_which(older, run_cli, data_dir):
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq", "--phone", "09419000101", "--area", "Khanyar",
             "--category", "ration"])
    code, text = on_terminal(data_dir, ["officer", "edit", "rafiq", "--area", "chanapora", "--area", "Khanyar"],
                             ["1"])
    assert code == 0, text
    assert "'chanapora' is the name of 2 areas:" in text and "1  Chanapora/Natipora" in text and "2  Channapora" in text
    assert run_cli(["officer", "show", "rafiq", "--json"], as_json=True)["areas"] == ["Chanapora/Natipora", "Khanyar"]
    # --area on log: a wrong number is asked again, then 2
    code, text = on_terminal(data_dir, ["log", "--phone", "09876543210", "--area", "Chanapora", "--category", "ration",
                                        "--lang", "en"], ["3", "2", "", "no ration"])
    assert code == 0, text
    assert "Ticket SXR-" in text
    first = run_cli(["list", "--json"], as_json=True)[0]
    assert first["area"] == "Channapora"
    # the interactive log prompt: the typed area, then which
    code, text = on_terminal(data_dir, ["log", "--phone", "09876500002", "--category", "ration", "--lang", "en"],
                             ["channapora", "1", "", "no ration"])
    assert code == 0, text
    assert "Area:" in text and "'channapora' is the name of 2 areas:" in text
    second = run_cli(["list", "--json"], as_json=True)[0]
    assert second["id"] != first["id"] and second["area"] == "Chanapora/Natipora"
    assert second["officer"] == "rafiq"  # routed by the area chosen
    code, text = on_terminal(data_dir, ["list", "--area", "Chanapora", "--json"], ["2"])
    assert code == 0, text
    assert first["id"] in text and second["id"] not in text


# Categories --------------------------------------------------------------------------------


def test_the_shipped_categories_file_is_srinagars_categories():
    categories, sensitive = read_categories_csv(SHIPPED_CATEGORIES)
    assert categories == {k: float(v) for k, v in DEFAULT_CATEGORIES.items()} and sensitive == ["counselling"]


def test_a_categories_file_gives_the_config_its_slas_and_sensitive_flags(data_dir, tmp_path):
    path = write(tmp_path, "categories.csv", "name,sla_hours,sensitive\nwater,24,\nshelter , 6.5,yes\n"
                                             "abuse,2,TRUE\nnoise,48,no\n")
    config = init_district(data_dir, code="NYC", name="New York", timezone="America/New_York",
                           areas_csv=BOSTON_AREAS, categories_csv=path)
    assert config.categories == {"water": 24, "shelter": 6.5, "abuse": 2, "noise": 48}
    assert [c for c in config.categories if config.is_sensitive(c)] == ["shelter", "abuse"]
    assert load_config(data_dir).categories == config.categories  # written to config.toml


@pytest.mark.parametrize("text, message", [
    ("name,sensitive\nwater,no\n", "has no 'sla_hours' column"),
    ("name,sla_hours\nwater,24\nshelter,six\n", "row 3: sla_hours 'six' of 'shelter' is not a number of hours above 0"),
    ("name,sla_hours\nwater,0\n", "row 2: sla_hours '0' of 'water'"),
    ("name,sla_hours\nwater,-4\n", "row 2: sla_hours '-4' of 'water'"),
    ("name,sla_hours\nwater,24\n,12\n", "row 3: a category needs a name of 1 to 40 characters"),
    ("name,sla_hours\nwater,24\nWater,12\n", "row 3: category 'Water' is listed twice"),
    ("name,sla_hours,sensitive\nwater,24,maybe\n", "row 2: sensitive 'maybe' of 'water' is not yes or no"),
    ("name,sla_hours\n", "lists no categories"),
    ("name,sla_hours\nwater,inf\n", "row 2: sla_hours 'inf' of 'water' is not a number of hours above 0"),
    ("name,sla_hours\nwater,24\nshelter,1e11\n", "row 3: sla_hours '1e11' of 'shelter' is more than 8,760 hours (a year)"),
])
def test_a_bad_categories_file_is_refused_naming_the_row(tmp_path, text, message):
    path = write(tmp_path, "categories.csv", text)
    with pytest.raises(InvalidValue) as error:
        read_categories_csv(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_own_areas_and_no_categories_start_with_none_and_say_how_to_add_them(data_dir):
    config = init_district(data_dir, code="BOS", name="Boston", timezone="America/New_York", areas_csv=BOSTON_AREAS)
    assert config.categories == {}
    with open(config.path, "rb") as f:
        assert tomllib.load(f)["categories"] == {}  # an empty table: not the built-in defaults
    with pytest.raises(NotFound) as error:
        config.category("ration")
    assert "district BOS has no categories yet: add them under [categories]" in str(error.value)
    from helpline_core.sms_templates import longest_contexts

    assert longest_contexts(config)["officer_assigned"]["category"] == "counselling"  # templates check still runs
    srinagar = init_district(data_dir.parent / "sxr", code="SXR", name="Srinagar")
    assert list(srinagar.categories) == list(DEFAULT_CATEGORIES) and srinagar.is_sensitive("counselling")


def test_cli_init_with_categories_and_without(run_cli, data_dir, tmp_path):
    cats = write(tmp_path, "categories.csv", "name,sla_hours,sensitive\nwater,24,no\nshelter,6,yes\n")
    out = run_cli(["init", "--district-code", "NYC", "--district-name", "New York", "--timezone", "America/New_York",
                   "--areas", str(BOSTON_AREAS), "--categories", str(cats)]).stdout
    assert "categories: water, shelter)" in out
    info = run_cli(["info"]).stdout
    assert "water (SLA 24 h), shelter (SLA 6 h, sensitive)" in info

    other = tmp_path / "boston"
    env = {"HELPLINE_DATA_DIR": str(other)}
    out = run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
                   "--areas", str(BOSTON_AREAS)], env=env).stdout
    assert "categories: none yet)" in out and "add categories under [categories] in" in out
    assert "ration" not in out and "counselling" not in out
    assert "categories:     none yet\n" in run_cli(["info"], env=env).stdout
    err = run_cli(["log", "--phone", "09876543210", "--area", "Back Bay", "--category", "ration"], env=env,
                  expect=1).stderr
    assert err.startswith("Error: district BOS has no categories yet: add them under [categories] in ")
    assert err.count("\n") == 1
    code, text = on_terminal(other, ["log", "--area", "Back Bay"], [])  # said before any question
    assert code == 1 and "no categories yet" in text and "phone" not in text


def test_cli_init_with_its_own_languages(run_cli, data_dir, tmp_path):
    cats = write(tmp_path, "categories.csv", "name,sla_hours,sensitive\nwater,24,no\n")
    err = run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--areas", str(BOSTON_AREAS),
                   "--categories", str(cats), "--language", "en", "--language", "fr"], expect=1).stderr
    assert err == "Error: language fr has no templates; choose from: en, hi, ur.\n"
    assert not data_dir.exists()
    run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
             "--areas", str(BOSTON_AREAS), "--categories", str(cats), "--language", "EN"])
    assert 'languages = ["en"]' in (data_dir / "config.toml").read_text(encoding="utf-8")
    run_cli(["templates", "check"])  # only English is checked: Boston's long area names fit its budget
    err = run_cli(["log", "--phone", "06175550123", "--area", "Back Bay", "--category", "water",
                   "--description", "no water", "--lang", "hi"], expect=1).stderr
    assert "language 'hi' is not offered; use one of: en." in err
    from helpline_core.config import load_config
    from helpline_core.ivr_records import IvrSettings

    assert IvrSettings(load_config(data_dir)).languages == ("en",)  # the voice menu offers the same


def test_cli_init_refuses_a_bad_categories_file_and_creates_nothing(run_cli, data_dir, tmp_path):
    bad = write(tmp_path, "categories.csv", "name,sla_hours\nwater,24\nshelter,soon\n")
    err = run_cli(["init", "--district-code", "NYC", "--district-name", "New York", "--areas", str(BOSTON_AREAS),
                   "--categories", str(bad)], expect=1).stderr
    assert err == f"Error: {bad} row 3: sla_hours 'soon' of 'shelter' is not a number of hours above 0.\n"
    assert not data_dir.exists()


def test_cli_demo_still_plays_its_calls(run_cli, tmp_path):
    out = run_cli(["demo", "--keep-in", str(tmp_path / "demo")]).stdout
    assert "Demo district SXR" in out
    listed = run_cli(["list", "--status", "all", "--area", "Natipora", "--json"],
                     env={"HELPLINE_DATA_DIR": str(tmp_path / "demo")}, as_json=True)
    assert listed and {t["area"] for t in listed} == {"Chanapora/Natipora"}


def test_control_characters_in_names_become_spaces_and_the_config_stays_readable(run_cli, data_dir, tmp_path):
    cats = write(tmp_path, "categories.csv", "name,sla_hours\nwa\x00ter,24\nshel\x1bter,8760\n")
    areas = write(tmp_path, "areas.csv", "name,alt_names\nBack\x00Bay,Back\x07 Bay2\nFenway,\n")
    assert read_categories_csv(cats) == ({"wa ter": 24.0, "shel ter": 8760.0}, [])
    assert read_areas_csv(areas) == [{"name": "Back Bay", "alt_names": ["Back Bay2"]}, {"name": "Fenway", "alt_names": []}]
    run_cli(["init", "--district-code", "NYC", "--district-name", "New York", "--areas", str(areas),
             "--categories", str(cats)])
    out = run_cli(["log", "--phone", "09876543210", "--area", "back bay", "--category", "wa ter"]).stdout
    assert "Ticket NYC-" in out


def test_an_areas_row_with_alternative_names_and_no_name_is_refused_naming_the_row(run_cli, data_dir, tmp_path):
    areas = write(tmp_path, "areas.csv", "name,alt_names\nFenway,\n,Kenmore;Audubon\n")
    err = run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--areas", str(areas)],
                  expect=1).stderr
    assert err == f"Error: {areas} row 3: alternative names Kenmore; Audubon have no area name.\n"
    assert not data_dir.exists()


def test_an_sla_over_a_year_in_config_toml_is_one_line_not_a_crash(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('"ration" = 48', '"ration" = 1e11'), encoding="utf-8")
    before = file_bytes(data_dir)
    err = run_cli(["log", "--phone", "09876543210", "--area", "Khanyar", "--category", "ration"], expect=1).stderr
    assert err.startswith("Error: ") and err.count("\n") == 1
    assert "categories.ration = 100000000000.0 is more than 8,760 hours (a year)" in err
    assert file_bytes(data_dir) == before
