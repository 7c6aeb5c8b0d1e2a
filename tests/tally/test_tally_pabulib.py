"""Reading and writing pabulib files: the quirks of real files, clear errors, and round trips."""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import pytest

from voting.tally import Election, PabulibError, Project, parse_pb, read_pb, tally, write_pb

DATA = Path(__file__).resolve().parent.parent / "data"
REAL_FILES = sorted(DATA.glob("*.pb"))

SMALL = """META
key;value
description;A small election
budget;100
vote_type;approval
PROJECTS
project_id;cost;name
a;60;First
b;50;Second
c;40;Third
VOTES
voter_id;vote
1;a,b
2;a
3;b,c
"""


def pb(text: str) -> bytes:
    return text.encode("utf-8")


def error_for(data: bytes) -> PabulibError:
    with pytest.raises(PabulibError) as caught:
        parse_pb(data)
    return caught.value


# --- what real files contain ---


def test_reads_every_shared_file():
    assert len(REAL_FILES) == 13
    for path in REAL_FILES:
        election = read_pb(path)
        assert election.ballots and election.projects


def test_crlf_line_ends_read_like_lf():
    assert parse_pb(pb(SMALL.replace("\n", "\r\n"))) == parse_pb(pb(SMALL))


def test_byte_order_mark_is_ignored():
    assert parse_pb(b"\xef\xbb\xbf" + pb(SMALL)) == parse_pb(pb(SMALL))


def test_quoted_fields_keep_semicolons_and_doubled_quotes():
    election = read_pb(DATA / "Poland_Gdansk_2020_Siedlce.pb")
    name = election.projects["7"].name
    assert name.startswith('Wiata śmietnikowa przy "Delikatesach FART" Kartuska73-79 ; Tarasy')
    assert election.projects["16"].name.startswith('"Park Goszczyńskiego". Przekształcenie')


def test_stray_quote_inside_an_unquoted_field_is_kept():
    election = read_pb(DATA / "Poland_Czestochowa_2020_Bleszno.pb")
    assert election.projects["515"].name.startswith('Konkurs " NA NAJŁADNIEJSZĄ')


def test_quoted_meta_value_with_doubled_quotes():
    election = read_pb(DATA / "Poland_Gdynia_2021_Babie_Doly__large.pb")
    assert '"Projekt +1"' in election.meta["comment"]


def test_string_project_ids_are_kept_as_written():
    election = read_pb(DATA / "Poland_Krakow_2024_Stare_Miasto.pb")
    assert "BO.D1.3/24" in election.projects
    assert election.ballots[0] == ("BO.D1.27/24", "BO.D1.18/24", "BO.D1.1/24")


def test_decimal_budget_is_exact():
    election = read_pb(DATA / "Poland_Krakow_2024_Stare_Miasto.pb")
    assert election.budget == Fraction("1546168.66")


def test_a_ballot_naming_a_project_twice_counts_it_once_and_is_noted():
    election = parse_pb(pb(SMALL.replace("3;b,c", "3;b,c,b")))
    assert election.ballots[2] == ("b", "c")
    assert election.notes == ("line 15: the vote names b more than once; counted once",)


def test_repeated_project_in_a_cumulative_ballot_keeps_the_first_points():
    text = SMALL.replace("approval", "cumulative").replace("voter_id;vote", "voter_id;vote;points")
    text = text.replace("1;a,b\n", "1;a,b,a;2,1,5\n").replace("2;a\n", "2;a;1\n")
    text = text.replace("3;b,c\n", "3;b,c;1,1\n")
    election = parse_pb(pb(text))
    assert election.ballots[0] == ("a", "b") and election.points[0] == (2, 1)
    assert election.scores == {"a": 3, "b": 2, "c": 1}


def test_ordinal_scores_are_pabulib_positional_points():
    election = read_pb(DATA / "Poland_Krakow_2024_Stare_Miasto.pb")
    assert election.scores["BO.D1.3/24"] == 1421  # the file's score column
    merced = read_pb(DATA / "US_Stanford_Dataset_Merced_Peoples_Budget_Ballot_2019_vote_rankings.pb")
    assert merced.scores["1106"] == 241 and merced.votes["1106"] == 44


def test_cumulative_scores_sum_the_points():
    election = read_pb(DATA / "France_Toulouse_2019.pb")
    assert election.scores["4"] == 1090 and election.votes["4"] == 471


def test_knapsack_and_choose_one_ballots_count_like_approval():
    knapsack = parse_pb(pb(SMALL.replace("approval", "knapsack")))
    assert knapsack.scores == parse_pb(pb(SMALL)).scores == {"a": 2, "b": 2, "c": 1}
    assert read_pb(DATA / "Poland_Zabrze_2020.pb").vote_type == "choose-1"


def test_meta_limits_and_threshold():
    election = read_pb(DATA / "Poland_Gdynia_2021_Babie_Doly__large.pb")
    assert (election.min_length, election.max_length, election.threshold) == (1, 3, 50)


# --- bad input: every error names its line ---


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("", 1, "missing META section"),
        ("PROJECTS\nproject_id;cost\n", 1, "PROJECTS section before the META section"),
        ("key;value\nbudget;1\n", 1, "the file must start with a META section"),
        (SMALL.split("VOTES")[0], 10, "missing VOTES section"),
        (SMALL.replace("budget;100\n", ""), 1, "META has no budget"),
        (SMALL.replace("vote_type;approval\n", ""), 1, "META has no vote_type"),
        (SMALL.replace("approval", "plurality"), 5, "unknown vote_type 'plurality'"),
        (SMALL.replace("budget;100", "budget;1,5"), 4, "bad budget: '1,5' is not a plain decimal"),
        (SMALL.replace("b;50;Second", "b;fifty;Second"), 9, "bad cost of project 'b'"),
        (SMALL.replace("b;50;Second", "b;-50;Second"), 9, "bad cost of project 'b'"),
        (SMALL.replace("3;b,c", "3;b,z"), 15, "the vote names project 'z', which is not in PROJECTS"),
        (SMALL.replace("c;40;Third", "a;40;Third"), 10, "project 'a' is listed twice"),
        (SMALL.replace("c;40;Third", "c;40"), 10, "expected 3 fields, found 2"),
        (SMALL.replace("project_id;cost;name", "id;cost;name"), 7, "has no 'project_id' column"),
        (SMALL.replace("voter_id;vote", "voter_id;ballot"), 12, "the VOTES header has no 'vote' column"),
        (SMALL.replace("b;50;Second", 'b;50;"Second'), 9, "a quoted field is not closed on its line"),
        (SMALL.replace("b;50;Second", 'b;50;"Sec"ond'), 9, "badly quoted field"),
        (SMALL + "META\n", 16, "second META section"),
        (SMALL.replace("max_length", "x").replace("budget;100", "budget;100\nmax_length;2.5"), 5,
         "max_length must be a whole number"),
    ],
)
def test_malformed_files_raise_with_the_line(text, line, problem):
    error = error_for(pb(text))
    assert error.line == line
    assert problem in error.problem
    assert str(error).startswith(f"line {line}: ")


def test_cumulative_votes_need_points_that_match():
    text = SMALL.replace("approval", "cumulative")
    assert "cumulative votes need a 'points' column" in error_for(pb(text)).problem
    text = text.replace("voter_id;vote", "voter_id;vote;points").replace("1;a,b\n", "1;a,b;1\n")
    text = text.replace("2;a\n", "2;a;1\n").replace("3;b,c\n", "3;b,c;1,1\n")
    error = error_for(pb(text))
    assert (error.line, error.problem) == (13, "2 projects but 1 points")


def test_wrong_encoding_names_the_line():
    data = pb(SMALL).replace("Second".encode(), "Zweit\xe9".encode("latin-1"))
    error = error_for(data)
    assert (error.line, error.problem) == (9, "not UTF-8 text (byte 0xe9)")


def test_read_pb_accepts_a_binary_stream():
    assert read_pb(io.BytesIO(pb(SMALL))) == parse_pb(pb(SMALL))


# --- writing ---


def written(election: Election) -> bytes:
    stream = io.StringIO()
    write_pb(election, stream)
    return stream.getvalue().encode("utf-8")


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.stem)
def test_real_files_round_trip_to_the_same_election_and_tally(path):
    election = read_pb(path)
    again = parse_pb(written(election))
    assert (again.projects, again.budget, again.ballots, again.points) == (
        election.projects,
        election.budget,
        election.ballots,
        election.points,
    )
    assert (again.vote_type, again.threshold, again.min_length, again.max_length) == (
        election.vote_type,
        election.threshold,
        election.min_length,
        election.max_length,
    )
    rule = "greedy" if election.meta["rule"] == "unknown" else "auto"
    assert tally(again, rule) == tally(election, rule)


def test_app_values_round_trip_with_ids_as_text():
    projects = [Project(7, 15_000_000, "路灯; 改造", "lighting"), Project(12, 8_000_000, 'say "hi"\nagain')]
    election = Election.from_values(projects, 20_000_000, [[7, 12], [12], [7]], meta={"rule": "greedy"})
    again = parse_pb(written(election))
    assert list(again.projects) == ["7", "12"]
    assert again.projects["7"].name == "路灯; 改造"
    assert again.projects["12"].name == 'say "hi" again'
    assert [str(pid) for pid in tally(election, "mes").selected] == list(tally(again, "mes").selected)


def test_cumulative_values_round_trip_with_points():
    projects = [Project("a", Fraction("10.5")), Project("b", 20)]
    ballots = [{"a": 2, "b": Fraction("0.5")}, {"b": 3}]
    election = Election.from_values(projects, 25, ballots, vote_type="cumulative")
    again = parse_pb(written(election))
    assert again.points == ((2, Fraction(1, 2)), (3,)) and again.projects["a"].cost == Fraction(21, 2)
    assert tally(again, "greedy") == tally(election, "greedy")


def test_ids_that_cannot_be_written_are_refused():
    election = Election.from_values([Project("a,b", 1)], 1, [])
    with pytest.raises(ValueError, match="cannot be written"):
        write_pb(election, io.StringIO())
